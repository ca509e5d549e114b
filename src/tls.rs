//! The CA roots that outbound TLS trusts (SMTP through lettre, plugins' HTTP through ureq):
//! Mozilla's roots compiled in (`tls.roots = "bundled"`, the default) or the platform's store
//! (`"system"`), plus the certificates of `tls.ca_file` (an internal identity provider or mail
//! relay signed by a corporate CA). Loaded once at start; a missing or empty file is a
//! configuration error then, not a failed delivery later.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::config::{Config, TlsRoots};
use crate::error::{Error, Result};

/// DER certificates every outbound TLS client trusts as roots.
#[derive(Clone)]
pub struct TrustRoots {
    certs: Arc<Vec<CertificateDer<'static>>>,
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustRoots({} certificates)", self.certs.len())
    }
}

impl TrustRoots {
    /// The roots the configuration asks for.
    pub fn load(config: &Config) -> Result<TrustRoots> {
        Self::from_parts(config.tls_roots, config.tls_ca_file.as_deref())
    }

    /// `roots`, plus the certificates of `ca_file`.
    pub fn from_parts(roots: TlsRoots, ca_file: Option<&Path>) -> Result<TrustRoots> {
        let mut certs: Vec<CertificateDer<'static>> = match roots {
            TlsRoots::Bundled => webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| c.clone().into_owned())
                .collect(),
            TlsRoots::System => {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    log::warn!("tls.roots = system: {e}");
                }
                if found.certs.is_empty() {
                    return Err(Error::Config(
                        "`tls.roots` is system, but no CA certificate was found in the platform's \
                         store (install ca-certificates, or set SSL_CERT_FILE)"
                            .into(),
                    ));
                }
                found.certs
            }
        };
        if let Some(file) = ca_file {
            certs.extend(read_pem(file)?);
        }
        Ok(TrustRoots {
            certs: Arc::new(certs),
        })
    }

    /// Mozilla's roots only (tests and tools without a configuration).
    pub fn bundled() -> TrustRoots {
        TrustRoots {
            certs: Arc::new(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS
                    .iter()
                    .map(|c| c.clone().into_owned())
                    .collect(),
            ),
        }
    }

    /// Every root, DER-encoded.
    pub fn der(&self) -> impl Iterator<Item = &[u8]> {
        self.certs.iter().map(|c| c.as_ref())
    }
}

fn read_pem(file: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |m: String| Error::Config(format!("`tls.ca_file` {}: {m}", file.display()));
    let bytes = std::fs::read(file).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("is not a PEM file of certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad("holds no `BEGIN CERTIFICATE` block".into()));
    }
    Ok(certs)
}
