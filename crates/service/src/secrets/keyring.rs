//! Master keys and envelope encryption under them.
//!
//! Every private value (a secret, a scope's private key) is encrypted with XChaCha20-Poly1305
//! under a fresh random data key, bound to where it belongs by associated data; the data key is
//! stored wrapped by a master key. The master keys live outside the database (a 0600 file in the
//! data directory, or `BERTH_MASTER_KEY`); the first of the ring wraps new values, the others
//! only open old ones until rotation has re-wrapped everything.

use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use berth_store::Envelope;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::Rng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Associated data of a wrapped data key.
const WRAP_AAD: &[u8] = b"berth data key v1";

/// Why a master key or an envelope could not be used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("a master key must be 32 bytes, base64-encoded")]
    BadMasterKey,
    #[error("no master key is configured")]
    Empty,
    #[error(
        "a value is wrapped by master key {0}, which is not in the key ring: restore the key file (or BERTH_MASTER_KEY) that holds it"
    )]
    UnknownMasterKey(String),
    #[error("a stored value does not decrypt: it was altered or moved")]
    Corrupt,
}

/// One master key and its public id (a hash, safe to store and log).
pub struct MasterKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.key)
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        Self::from_bytes(rand::rng().random())
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"berth master key id");
        h.update(key);
        Self {
            id: hex::encode(&h.finalize()[..8]),
            key: Zeroizing::new(key),
        }
    }

    /// Reads the base64 form written by [`MasterKey::encode`].
    pub fn decode(s: &str) -> Result<Self, KeyringError> {
        let bytes = Zeroizing::new(
            B64.decode(s.trim())
                .map_err(|_| KeyringError::BadMasterKey)?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyringError::BadMasterKey)?;
        Ok(Self::from_bytes(key))
    }

    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(*self.key))
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Saves a new key ring where it came from (the key file); `None` when it cannot be changed
/// from inside the server (an environment variable).
pub type PersistKeys = Arc<dyn Fn(&[MasterKey]) -> std::io::Result<()> + Send + Sync>;

/// The master keys in use: the first wraps, all open.
#[derive(Clone)]
pub struct MasterKeys {
    ring: Arc<RwLock<Vec<MasterKey>>>,
    persist: Option<PersistKeys>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("ids", &self.ids())
            .finish_non_exhaustive()
    }
}

fn seal_with(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce: [u8; 24] = rand::rng().random();
    let sealed = XChaCha20Poly1305::new(key.into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("encryption into a Vec cannot fail");
    [nonce.as_slice(), &sealed].concat()
}

fn open_with(key: &[u8; 32], data: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
    if data.len() < 24 {
        return Err(KeyringError::Corrupt);
    }
    let (nonce, sealed) = data.split_at(24);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| KeyringError::Corrupt)
}

fn b64(s: &str) -> Result<Vec<u8>, KeyringError> {
    B64.decode(s).map_err(|_| KeyringError::Corrupt)
}

impl MasterKeys {
    /// A ring whose first key wraps new values; `persist` saves a rotated ring.
    pub fn new(keys: Vec<MasterKey>, persist: Option<PersistKeys>) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self {
            ring: Arc::new(RwLock::new(keys)),
            persist,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<MasterKey>> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The ids of the ring, the wrapping key first.
    pub fn ids(&self) -> Vec<String> {
        self.read().iter().map(|k| k.id.clone()).collect()
    }

    pub fn primary_id(&self) -> String {
        self.read()[0].id.clone()
    }

    /// Encrypts `plaintext` for the place `aad` names.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Envelope {
        let data_key = Zeroizing::new(rand::rng().random::<[u8; 32]>());
        let ciphertext = seal_with(&data_key, plaintext, aad.as_bytes());
        let ring = self.read();
        let wrapped = seal_with(&ring[0].key, data_key.as_slice(), WRAP_AAD);
        Envelope {
            ciphertext: B64.encode(ciphertext),
            wrapped_key: B64.encode(wrapped),
            master_key_id: ring[0].id.clone(),
        }
    }

    fn data_key(&self, e: &Envelope) -> Result<Zeroizing<[u8; 32]>, KeyringError> {
        let ring = self.read();
        let master = ring
            .iter()
            .find(|k| k.id == e.master_key_id)
            .ok_or_else(|| KeyringError::UnknownMasterKey(e.master_key_id.clone()))?;
        let key = open_with(&master.key, &b64(&e.wrapped_key)?, WRAP_AAD)?;
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| KeyringError::Corrupt)?;
        Ok(Zeroizing::new(key))
    }

    /// Decrypts an envelope made for the place `aad` names.
    pub fn open(&self, e: &Envelope, aad: &str) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        let key = self.data_key(e)?;
        open_with(&key, &b64(&e.ciphertext)?, aad.as_bytes())
    }

    /// The envelope's data key wrapped by the primary key instead: `(wrapped_key, master_key_id)`.
    pub fn rewrap(&self, e: &Envelope) -> Result<(String, String), KeyringError> {
        let key = self.data_key(e)?;
        let ring = self.read();
        Ok((
            B64.encode(seal_with(&ring[0].key, key.as_slice(), WRAP_AAD)),
            ring[0].id.clone(),
        ))
    }

    /// Whether a rotated ring can be saved (the keys came from a file).
    pub fn can_generate(&self) -> bool {
        self.persist.is_some()
    }

    /// Puts a new key first and saves the ring. Without a place to save it, nothing changes.
    pub fn generate_primary(&self) -> std::io::Result<bool> {
        let Some(persist) = &self.persist else {
            return Ok(false);
        };
        let mut ring = self.ring.write().unwrap_or_else(|e| e.into_inner());
        let mut next = vec![MasterKey::generate()];
        next.extend(ring.iter().cloned());
        persist(&next)?;
        *ring = next;
        Ok(true)
    }

    /// Drops every key but the primary and those in `used`, and saves the ring when it can.
    pub fn retain_used(&self, used: &[String]) -> std::io::Result<Vec<String>> {
        let mut ring = self.ring.write().unwrap_or_else(|e| e.into_inner());
        let kept: Vec<MasterKey> = ring
            .iter()
            .enumerate()
            .filter(|(i, k)| *i == 0 || used.contains(&k.id))
            .map(|(_, k)| k.clone())
            .collect();
        let dropped = ring
            .iter()
            .filter(|k| !kept.iter().any(|c| c.id == k.id))
            .map(|k| k.id.clone())
            .collect();
        if let Some(persist) = &self.persist {
            persist(&kept)?;
            *ring = kept;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_open_only_with_their_place_and_a_key_of_the_ring() {
        let keys = MasterKeys::new(vec![MasterKey::from_bytes([1; 32])], None).unwrap();
        let e = keys.seal(b"hunter2", "secret/user/1/A");
        assert!(!e.ciphertext.contains("hunter2"));
        assert_eq!(
            keys.open(&e, "secret/user/1/A").unwrap().as_slice(),
            b"hunter2"
        );
        assert_eq!(
            keys.open(&e, "secret/user/2/A"),
            Err(KeyringError::Corrupt),
            "moved to another place, it does not open"
        );
        let other = MasterKeys::new(vec![MasterKey::from_bytes([2; 32])], None).unwrap();
        assert!(matches!(
            other.open(&e, "secret/user/1/A"),
            Err(KeyringError::UnknownMasterKey(_))
        ));
        assert!(!format!("{keys:?}").contains("1, 1"));
    }

    #[test]
    fn rotation_rewraps_data_keys_and_old_keys_can_go() {
        let saved = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = saved.clone();
        let persist: PersistKeys = Arc::new(move |ks: &[MasterKey]| {
            *sink.lock().unwrap() = ks.iter().map(|k| k.id().to_owned()).collect();
            Ok(())
        });
        let keys = MasterKeys::new(vec![MasterKey::from_bytes([1; 32])], Some(persist)).unwrap();
        let old_id = keys.primary_id();
        let e = keys.seal(b"value", "here");
        assert!(keys.generate_primary().unwrap());
        let new_id = keys.primary_id();
        assert_ne!(new_id, old_id);
        assert_eq!(*saved.lock().unwrap(), [new_id.clone(), old_id.clone()]);
        assert_eq!(keys.open(&e, "here").unwrap().as_slice(), b"value");
        let (wrapped_key, master_key_id) = keys.rewrap(&e).unwrap();
        let moved = Envelope {
            wrapped_key,
            master_key_id,
            ..e
        };
        assert_eq!(moved.master_key_id, new_id);
        assert_eq!(keys.retain_used(&[]).unwrap(), [old_id]);
        assert_eq!(*saved.lock().unwrap(), [new_id]);
        assert_eq!(keys.open(&moved, "here").unwrap().as_slice(), b"value");
    }

    #[test]
    fn master_keys_round_trip_through_their_text_form() {
        let k = MasterKey::generate();
        assert_eq!(MasterKey::decode(&k.encode()).unwrap().id(), k.id());
        assert_eq!(
            MasterKey::decode("c2hvcnQ=").unwrap_err(),
            KeyringError::BadMasterKey
        );
    }
}
