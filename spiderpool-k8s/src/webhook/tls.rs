//! The serving certificate as rustls sees it: a resolver whose certificate
//! can be swapped while the server runs ([`CertStore`]), PEM loading, and
//! hot reload from files ([`watch_files`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::WebhookError;

/// Where the serving certificate came from and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// `files CERT KEY` or `secret NS/NAME`.
    pub source: String,
    /// When it expires (seconds since the Unix epoch), when known.
    pub not_after: Option<i64>,
    /// A fingerprint of the certificate chain (changes when it is replaced).
    pub fingerprint: u64,
}

/// The certificate the webhook server presents, replaceable at any time: new
/// TLS handshakes use the new one, open connections keep theirs.
#[derive(Default)]
pub struct CertStore {
    current: RwLock<Option<(Arc<CertifiedKey>, CertInfo)>>,
    last_error: RwLock<Option<String>>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore").field("info", &self.info()).finish()
    }
}

impl CertStore {
    /// An empty store (handshakes fail until a certificate is installed).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Installs a certificate.
    pub fn install(&self, key: CertifiedKey, info: CertInfo) {
        let mut slot = match self.current.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *slot = Some((Arc::new(key), info));
    }

    /// Records why the last attempt to get a certificate failed (`None`:
    /// it succeeded), for readiness.
    pub fn set_error(&self, error: Option<String>) {
        let mut slot = match self.last_error.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *slot = error;
    }

    /// Why the last attempt to get a certificate failed, if it did.
    pub fn error(&self) -> Option<String> {
        match self.last_error.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// What is installed, if anything.
    pub fn info(&self) -> Option<CertInfo> {
        let slot = match self.current.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        slot.as_ref().map(|(_, i)| i.clone())
    }

    fn key(&self) -> Option<Arc<CertifiedKey>> {
        let slot = match self.current.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        slot.as_ref().map(|(k, _)| k.clone())
    }
}

/// The store's resolver: every handshake gets the installed certificate.
#[derive(Debug, Clone)]
pub struct StoreResolver(pub Arc<CertStore>);

impl ResolvesServerCert for StoreResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.key()
    }
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1)
/// that serves whatever `store` holds.
pub fn server_config(store: Arc<CertStore>) -> Result<Arc<rustls::ServerConfig>, WebhookError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Tls {
            what: "protocol versions".into(),
            message: e.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(StoreResolver(store)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate chain and private key from PEM, checked to belong together.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    what: &str,
) -> Result<CertifiedKey, WebhookError> {
    let tls = |message: String| WebhookError::Tls { what: what.to_owned(), message };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls(format!("certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(tls("no certificate in the PEM data".into()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| tls(format!("private key PEM: {e}")))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| tls(format!("certificate and key: {e}")))
}

/// A fingerprint of PEM data (FNV-1a; only for telling versions apart).
pub fn fingerprint(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// Certificate files to serve and watch.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// PEM certificate chain (the serving certificate first).
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl CertFiles {
    /// Reads and installs the files when they differ from what `store`
    /// holds. `Ok(true)` when a new certificate was installed.
    pub fn reload(&self, store: &CertStore) -> Result<bool, WebhookError> {
        let cert = read(&self.cert)?;
        let key = read(&self.key)?;
        let mut both = cert.clone();
        both.extend_from_slice(&key);
        let print = fingerprint(&both);
        if store.info().is_some_and(|i| i.fingerprint == print) {
            return Ok(false);
        }
        let source = format!("files {} {}", self.cert.display(), self.key.display());
        let certified = certified_key(&cert, &key, &source)?;
        store.install(certified, CertInfo { source, not_after: None, fingerprint: print });
        Ok(true)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, WebhookError> {
    std::fs::read(path)
        .map_err(|e| WebhookError::Tls { what: path.display().to_string(), message: e.to_string() })
}

/// Keeps `store` on the contents of `files`: reads them every `interval` and
/// installs them when they changed and form a valid pair (a half-written
/// pair is retried on the next round; the old certificate stays meanwhile).
///
/// The files are polled rather than watched with inotify: Kubernetes updates
/// a mounted Secret by swapping a symlink to a new directory, which an
/// inotify watch on the files never sees, and cert-manager or an operator may
/// write the two files one after the other.
pub async fn watch_files(files: CertFiles, store: Arc<CertStore>, interval: Duration) {
    let mut last_error = String::new();
    loop {
        match files.reload(&store) {
            Ok(true) => {
                tracing::info!("webhook certificate loaded from {}", files.cert.display());
                last_error.clear();
                store.set_error(None);
            }
            Ok(false) => {
                last_error.clear();
                store.set_error(None);
            }
            Err(e) => {
                let message = e.to_string();
                store.set_error(Some(message.clone()));
                if message != last_error {
                    tracing::warn!(
                        "webhook certificate files: {message} (keeping the current one)"
                    );
                    last_error = message;
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}
