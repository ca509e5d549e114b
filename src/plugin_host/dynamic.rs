//! One hook called by its WIT name with JSON arguments (`tenantry plugin call`): the
//! component's own types drive the conversion both ways, so every hook of every world (and
//! any hook a later minor version adds) is callable without a per-hook mapping. The call
//! itself goes through [`PluginHost::call`](super::PluginHost) like every server call: fresh
//! instance, memory limit, deadline, allowlisted HTTP.
//!
//! JSON shapes, by WIT type: a record is an object keyed by field name (kebab-case as in the
//! WIT, snake_case accepted too); `option<T>` is `null` or the value (a missing record field
//! of option type is `none`); an enum is its case name; a variant case is its name alone, or
//! `{"case": payload}`; `result<T, E>` is `{"ok": …}` or `{"err": …}`; `list<T>` and
//! tuples are arrays; numbers, strings and booleans are themselves.

use serde_json::{Map, Value as Json};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Type, Val};
use wasmtime::Engine;

/// The name a key of the input JSON stands for: `snake_case` is read as `kebab-case`.
fn wit_name(key: &str) -> String {
    key.replace('_', "-")
}

/// Every exported hook of a component: `(interface, function, type)`, interfaces of the
/// `tenantry:plugin` package only.
pub(crate) fn exported_hooks(
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> Vec<(String, String, ComponentFunc)> {
    let mut out = Vec::new();
    for (name, item) in component.component_type().exports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if !name.starts_with("tenantry:plugin/") {
            continue;
        }
        for (func, item) in instance.exports(engine) {
            if let ComponentItem::ComponentFunc(ty) = item.ty {
                out.push((name.to_string(), func.to_string(), ty));
            }
        }
    }
    out
}

/// The arguments of `func` from a JSON object keyed by parameter name.
pub(crate) fn arguments(func: &ComponentFunc, input: &Json) -> Result<Vec<Val>, String> {
    let Json::Object(given) = input else {
        return Err("--input must be a JSON object of the hook's parameters".into());
    };
    let names: Vec<&str> = func.params().map(|(n, _)| n).collect();
    for key in given.keys() {
        if !names.contains(&wit_name(key).as_str()) {
            return Err(format!(
                "unknown parameter `{key}` (this hook takes: {})",
                names.join(", ")
            ));
        }
    }
    func.params()
        .map(|(name, ty)| {
            let value = lookup(given, name);
            match (value, &ty) {
                (None, Type::Option(_)) => Ok(Val::Option(None)),
                (None, _) => Err(format!("missing parameter `{name}` ({})", describe(&ty))),
                (Some(v), _) => to_val(v, &ty, name),
            }
        })
        .collect()
}

/// `map[name]`, or `map[name with '-' as '_']`.
fn lookup<'a>(map: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    map.get(name).or_else(|| map.get(&name.replace('-', "_")))
}

/// A short description of a WIT type for error messages.
fn describe(ty: &Type) -> String {
    match ty {
        Type::Record(r) => format!(
            "a record {{{}}}",
            r.fields().map(|f| f.name).collect::<Vec<_>>().join(", ")
        ),
        Type::Variant(v) => format!(
            "one of: {}",
            v.cases().map(|c| c.name).collect::<Vec<_>>().join(", ")
        ),
        Type::Enum(e) => format!("one of: {}", e.names().collect::<Vec<_>>().join(", ")),
        Type::List(l) => format!("a list of {}", describe(&l.ty())),
        Type::Option(o) => format!("null or {}", describe(&o.ty())),
        Type::String => "a string".into(),
        Type::Bool => "true or false".into(),
        Type::Char => "a one-character string".into(),
        Type::Float32 | Type::Float64 => "a number".into(),
        Type::S8 | Type::S16 | Type::S32 | Type::S64 => "an integer".into(),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => "a non-negative integer".into(),
        _ => "a value".into(),
    }
}

/// Converts `v` to a value of type `ty`; `at` names the place for error messages.
fn to_val(v: &Json, ty: &Type, at: &str) -> Result<Val, String> {
    let bad = || format!("`{at}` must be {}, not {v}", describe(ty));
    let int = |v: &Json| v.as_i64().ok_or_else(bad);
    let uint = |v: &Json| v.as_u64().ok_or_else(bad);
    Ok(match ty {
        Type::Bool => Val::Bool(v.as_bool().ok_or_else(bad)?),
        Type::S8 => Val::S8(int(v)?.try_into().map_err(|_| bad())?),
        Type::S16 => Val::S16(int(v)?.try_into().map_err(|_| bad())?),
        Type::S32 => Val::S32(int(v)?.try_into().map_err(|_| bad())?),
        Type::S64 => Val::S64(int(v)?),
        Type::U8 => Val::U8(uint(v)?.try_into().map_err(|_| bad())?),
        Type::U16 => Val::U16(uint(v)?.try_into().map_err(|_| bad())?),
        Type::U32 => Val::U32(uint(v)?.try_into().map_err(|_| bad())?),
        Type::U64 => Val::U64(uint(v)?),
        Type::Float32 => Val::Float32(v.as_f64().ok_or_else(bad)? as f32),
        Type::Float64 => Val::Float64(v.as_f64().ok_or_else(bad)?),
        Type::Char => {
            let s = v.as_str().ok_or_else(bad)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(bad()),
            }
        }
        Type::String => Val::String(v.as_str().ok_or_else(bad)?.to_string()),
        Type::List(l) => Val::List(
            v.as_array()
                .ok_or_else(bad)?
                .iter()
                .enumerate()
                .map(|(i, item)| to_val(item, &l.ty(), &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Type::Tuple(t) => {
            let items = v.as_array().ok_or_else(bad)?;
            if items.len() != t.types().len() {
                return Err(format!(
                    "`{at}` must be an array of {} items",
                    t.types().len()
                ));
            }
            Val::Tuple(
                items
                    .iter()
                    .zip(t.types())
                    .enumerate()
                    .map(|(i, (item, ty))| to_val(item, &ty, &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Record(r) => {
            let given = v.as_object().ok_or_else(bad)?;
            let names: Vec<&str> = r.fields().map(|f| f.name).collect();
            if let Some(key) = given
                .keys()
                .find(|k| !names.contains(&wit_name(k).as_str()))
            {
                return Err(format!(
                    "`{at}` has no field `{key}` (fields: {})",
                    names.join(", ")
                ));
            }
            Val::Record(
                r.fields()
                    .map(|f| {
                        let place = format!("{at}.{}", f.name);
                        let value = match (lookup(given, f.name), &f.ty) {
                            (None, Type::Option(_)) => Val::Option(None),
                            (None, _) => {
                                return Err(format!("`{place}` is missing ({})", describe(&f.ty)))
                            }
                            (Some(x), _) => to_val(x, &f.ty, &place)?,
                        };
                        Ok((f.name.to_string(), value))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        Type::Enum(e) => {
            let name = wit_name(v.as_str().ok_or_else(bad)?);
            if !e.names().any(|n| n == name) {
                return Err(bad());
            }
            Val::Enum(name)
        }
        Type::Variant(variant) => {
            let (name, payload) = match v {
                Json::String(s) => (wit_name(s), None),
                Json::Object(m) if m.len() == 1 => {
                    let (k, p) = m.iter().next().ok_or_else(bad)?;
                    (wit_name(k), Some(p))
                }
                _ => return Err(bad()),
            };
            let case = variant.cases().find(|c| c.name == name).ok_or_else(bad)?;
            let payload = match (case.ty, payload) {
                (None, None | Some(Json::Null)) => None,
                (Some(ty), Some(p)) => Some(Box::new(to_val(p, &ty, &format!("{at}.{name}"))?)),
                (Some(Type::Option(_)), None) => Some(Box::new(Val::Option(None))),
                _ => return Err(bad()),
            };
            Val::Variant(name, payload)
        }
        Type::Option(o) => match v {
            Json::Null => Val::Option(None),
            other => Val::Option(Some(Box::new(to_val(other, &o.ty(), at)?))),
        },
        Type::Result(r) => {
            let m = v
                .as_object()
                .filter(|m| m.len() == 1)
                .ok_or_else(|| format!("`{at}` must be {{\"ok\": …}} or {{\"err\": …}}"))?;
            let (k, p) = m.iter().next().ok_or_else(bad)?;
            let side = |ty: Option<Type>| -> Result<Option<Box<Val>>, String> {
                match ty {
                    None => Ok(None),
                    Some(ty) => Ok(Some(Box::new(to_val(p, &ty, &format!("{at}.{k}"))?))),
                }
            };
            match k.as_str() {
                "ok" => Val::Result(Ok(side(r.ok())?)),
                "err" => Val::Result(Err(side(r.err())?)),
                _ => return Err(format!("`{at}` must be {{\"ok\": …}} or {{\"err\": …}}")),
            }
        }
        Type::Flags(f) => {
            let names: Vec<&str> = f.names().collect();
            Val::Flags(
                v.as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(wit_name)
                            .filter(|n| names.contains(&n.as_str()))
                            .ok_or_else(bad)
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => return Err(format!("`{at}` has a type `plugin call` cannot build")),
    })
}

/// A value as JSON, in the shapes described at the top of this module.
pub(crate) fn to_json(v: &Val) -> Json {
    match v {
        Val::Bool(b) => Json::Bool(*b),
        Val::S8(n) => (*n).into(),
        Val::U8(n) => (*n).into(),
        Val::S16(n) => (*n).into(),
        Val::U16(n) => (*n).into(),
        Val::S32(n) => (*n).into(),
        Val::U32(n) => (*n).into(),
        Val::S64(n) => (*n).into(),
        Val::U64(n) => (*n).into(),
        Val::Float32(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number)
        }
        Val::Float64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Val::Char(c) => Json::String(c.to_string()),
        Val::String(s) => Json::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Json::Array(items.iter().map(to_json).collect())
        }
        Val::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        Val::Variant(name, None) | Val::Enum(name) => Json::String(name.clone()),
        Val::Variant(name, Some(p)) => serde_json::json!({ name.as_str(): to_json(p) }),
        Val::Option(o) => o.as_deref().map_or(Json::Null, to_json),
        Val::Result(Ok(o)) => serde_json::json!({ "ok": o.as_deref().map_or(Json::Null, to_json) }),
        Val::Result(Err(e)) => {
            serde_json::json!({ "err": e.as_deref().map_or(Json::Null, to_json) })
        }
        Val::Flags(names) => Json::Array(names.iter().cloned().map(Json::String).collect()),
        Val::Map(pairs) => Json::Array(
            pairs
                .iter()
                .map(|(k, v)| Json::Array(vec![to_json(k), to_json(v)]))
                .collect(),
        ),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => {
            Json::String("<handle>".into())
        }
    }
}

/// What a hook answered: its value, or (for a hook returning `result<_, plugin-error>`)
/// the plugin error.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The hook's value (the `ok` side of its result, or its plain return value).
    Value(Json),
    /// The `plugin-error` the hook answered.
    PluginError {
        /// The machine-readable code.
        code: String,
        /// The message for the log.
        message: String,
    },
}

/// The answer of a hook from its results.
pub(crate) fn answer(results: &[Val]) -> Answer {
    match results {
        [Val::Result(Ok(v))] => Answer::Value(v.as_deref().map_or(Json::Null, to_json)),
        [Val::Result(Err(Some(e)))] => {
            let json = to_json(e);
            let text = |k: &str| json.get(k).and_then(Json::as_str).unwrap_or("").to_string();
            Answer::PluginError {
                code: text("code"),
                message: text("message"),
            }
        }
        [one] => Answer::Value(to_json(one)),
        many => Answer::Value(Json::Array(many.iter().map(to_json).collect())),
    }
}
