//! Typed settings: a `serde` deserializer that asks the host for each field of a struct by
//! name (`[plugins.NAME.settings]` in the server configuration).

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use crate::{Error, Result};

/// The plugin's setting `name`, trimmed; none when it is unset or blank.
pub fn setting(name: &str) -> Option<String> {
    crate::sys::setting(name)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The plugin's settings as a `T` (a struct deriving `serde::Deserialize`): each field is
/// asked from the host by its name (`#[serde(rename = "…")]` works). Values are strings in
/// the configuration and parse into numbers, `bool` (`true`/`false`), unit enum variants
/// and, comma-separated, lists. A blank value counts as unset: `Option` fields become
/// `None`, `#[serde(default)]` fields their default, and any other field missing is an
/// error `misconfigured` naming it, as is a value that does not parse.
///
/// ```ignore
/// #[derive(serde::Deserialize)]
/// struct Settings {
///     base_url: String,
///     api_token: Option<String>,
///     #[serde(default)]
///     retries: u32,
/// }
/// let s: Settings = tenantry_plugin::settings()?;
/// ```
pub fn settings<T: DeserializeOwned>() -> Result<T> {
    T::deserialize(Settings).map_err(|e| Error::misconfigured(e.0))
}

/// Why the settings did not deserialize.
#[derive(Debug)]
pub struct SettingsError(String);

impl core::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

impl de::Error for SettingsError {
    fn custom<T: core::fmt::Display>(msg: T) -> Self {
        SettingsError(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        SettingsError(format!("setting `{field}` is missing"))
    }
}

/// The top level: a map of the struct's fields.
struct Settings;

impl<'de> de::Deserializer<'de> for Settings {
    type Error = SettingsError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, SettingsError> {
        Err(de::Error::custom(
            "settings deserialize into a struct with named fields",
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SettingsError> {
        visitor.visit_map(Fields {
            fields: fields.iter(),
            current: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

/// The fields that have a value, one after the other.
struct Fields {
    fields: core::slice::Iter<'static, &'static str>,
    current: Option<(&'static str, String)>,
}

impl<'de> de::MapAccess<'de> for Fields {
    type Error = SettingsError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, SettingsError> {
        for field in self.fields.by_ref() {
            if let Some(value) = setting(field) {
                self.current = Some((field, value));
                return seed.deserialize((*field).into_deserializer()).map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, SettingsError> {
        let (field, value) = self.current.take().expect("next_key_seed comes first");
        seed.deserialize(Value(&value))
            .map_err(|e| SettingsError(format!("setting `{field}` = {value:?}: {}", e.0)))
    }
}

/// One setting's value.
struct Value<'a>(&'a str);

impl Value<'_> {
    fn parse<T: core::str::FromStr>(&self, what: &str) -> Result<T, SettingsError> {
        self.0
            .parse()
            .map_err(|_| SettingsError(format!("expected {what}")))
    }
}

macro_rules! parse_number {
    ($($method:ident $visit:ident $ty:ty, )*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SettingsError> {
            visitor.$visit(self.parse::<$ty>(concat!("a number (", stringify!($ty), ")"))?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value<'_> {
    type Error = SettingsError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SettingsError> {
        visitor.visit_string(self.0.to_string())
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SettingsError> {
        match self.0.to_ascii_lowercase().as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(SettingsError("expected true or false".into())),
        }
    }

    parse_number! {
        deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16, deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64, deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64,
        deserialize_f32 visit_f32 f32, deserialize_f64 visit_f64 f64,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SettingsError> {
        // Only set, non-blank settings get here.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, SettingsError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SettingsError> {
        let items: Vec<&str> = self
            .0
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        visitor.visit_seq(de::value::SeqDeserializer::new(
            items.into_iter().map(Value),
        ))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SettingsError> {
        visitor.visit_enum(IntoDeserializer::<SettingsError>::into_deserializer(
            self.0.to_string(),
        ))
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple tuple_struct map
        struct identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, SettingsError> for Value<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}
