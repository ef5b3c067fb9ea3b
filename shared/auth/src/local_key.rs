//! The embedded-mode HS256 key: kept in the data directory, created on first start, and used
//! both to issue tokens and (through [`LocalKey::key_source`]) to verify them.

use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keel_core::Error;

use crate::claims::{Claims, now_seconds};
use crate::role::Role;
use crate::verifier::{KeySource, MIN_HS256_SECRET_BYTES};

/// The key file inside the data directory.
pub const LOCAL_KEY_FILE: &str = "keys/local-hs256.key";

/// A secret HS256 key. `Debug` never shows it.
#[derive(Clone)]
pub struct LocalKey {
    secret: Vec<u8>,
}

impl LocalKey {
    /// Reads `<data_dir>/keys/local-hs256.key` (base64), creating it with 32 fresh random bytes
    /// if absent. On unix the directory is created `0700` and the file `0600`. Two processes
    /// starting at once end up with the same key: the file appears atomically, complete.
    pub fn load_or_create(data_dir: &Path) -> Result<LocalKey, Error> {
        let path = data_dir.join(LOCAL_KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => return LocalKey::decode(&path, &text),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("reading", &path, e)),
        }
        let secret = random_secret();
        match write_new(&path, STANDARD.encode(&secret).as_bytes()) {
            Ok(()) => {
                tracing::info!(key.path = %path.display(), "created the local signing key");
                Ok(LocalKey { secret })
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(&path).map_err(|e| io_error("reading", &path, e))?;
                LocalKey::decode(&path, &text)
            }
            Err(e) => Err(io_error("creating", &path, e)),
        }
    }

    /// A key from explicit bytes (for instance `auth.local_key` from configuration), at least
    /// [`MIN_HS256_SECRET_BYTES`] long.
    pub fn from_bytes(secret: Vec<u8>) -> Result<LocalKey, Error> {
        if secret.len() < MIN_HS256_SECRET_BYTES {
            return Err(Error::invalid(
                "auth.local_key",
                format!("an HS256 key needs at least {MIN_HS256_SECRET_BYTES} bytes"),
            ));
        }
        Ok(LocalKey { secret })
    }

    /// The key source that verifies tokens this key issues.
    pub fn key_source(&self) -> KeySource {
        KeySource::Hs256(self.secret.clone())
    }

    /// The raw secret.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Signs an HS256 token for `subject` with `roles`, valid from now (`iat` = `nbf` = now)
    /// for `ttl`.
    pub fn issue(&self, issuer: &str, audience: &str, subject: &str, roles: &[Role], ttl: Duration) -> String {
        issue_hs256(&self.secret, issuer, audience, subject, roles, ttl)
    }

    fn decode(path: &Path, text: &str) -> Result<LocalKey, Error> {
        warn_if_readable_by_others(path);
        let secret = STANDARD
            .decode(text.trim())
            .map_err(|e| Error::internal(format!("{} is not base64: {e}", path.display())))?;
        if secret.len() < MIN_HS256_SECRET_BYTES {
            return Err(Error::internal(format!(
                "{} holds {} bytes; an HS256 key needs at least {MIN_HS256_SECRET_BYTES}",
                path.display(),
                secret.len()
            )));
        }
        Ok(LocalKey { secret })
    }
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey(<redacted>)")
    }
}

/// Signs an HS256 token with an explicit secret: `iat` = `nbf` = now, `exp` = now + `ttl`.
/// The secret should be at least [`MIN_HS256_SECRET_BYTES`] long, or the verifier refuses it.
pub fn issue_hs256(
    secret: &[u8],
    issuer: &str,
    audience: &str,
    subject: &str,
    roles: &[Role],
    ttl: Duration,
) -> String {
    let now = now_seconds();
    let claims = Claims {
        sub: subject.to_string(),
        iss: issuer.to_string(),
        aud: audience.to_string(),
        iat: now,
        nbf: Some(now),
        exp: now.saturating_add(ttl.as_secs()),
        roles: roles.iter().map(|role| role.as_str().to_string()).collect(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HMAC signing of plain claims with an in-memory key cannot fail")
}

/// 32 random bytes: two v4 UUIDs, whose randomness comes from the OS (`getrandom`). Six bits
/// of each UUID are fixed, leaving 244 random bits, well above HS256's 128-bit security level.
fn random_secret() -> Vec<u8> {
    let mut secret = Vec::with_capacity(32);
    secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret
}

/// Writes `contents` to `path` only if `path` does not exist, so that no reader ever sees a
/// partial key: the bytes go to a private temporary file which is then hard-linked into place
/// (the link fails with `AlreadyExists` if another process won the race).
fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let directory = path.parent().unwrap_or(Path::new("."));
    create_private_dir(directory)?;
    let temporary = directory.join(format!(".local-hs256.key.{}", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut file = private_file_options().open(&temporary)?;
        file.write_all(contents)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::hard_link(&temporary, path)
    })();
    let _ = fs::remove_file(&temporary);
    written
}

fn private_file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn create_private_dir(directory: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(directory)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(key.path = %path.display(), "the local signing key is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn io_error(action: &str, path: &Path, error: std::io::Error) -> Error {
    Error::internal(format!("{action} the local signing key {}: {error}", path.display()))
}
