//! Hashing keys for storage and verifying them in constant time, with pepper rotation.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Length of every digest this crate produces, in bytes.
pub const DIGEST_LEN: usize = 32;

/// How a stored key hash was computed. Stored next to the hash, as [`HashAlgorithm::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 of the full key (no pepper configured).
    Sha256,
    /// HMAC-SHA256 of the full key under a server-side secret, the [`Pepper`].
    HmacSha256,
}

impl HashAlgorithm {
    /// The stable name stored in databases: `sha256` or `hmac-sha256`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::HmacSha256 => "hmac-sha256",
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HashAlgorithm {
    type Err = UnknownAlgorithm;

    /// Reads back exactly what [`HashAlgorithm::as_str`] writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sha256" => Ok(Self::Sha256),
            "hmac-sha256" => Ok(Self::HmacSha256),
            _ => Err(UnknownAlgorithm(s.to_owned())),
        }
    }
}

/// A stored algorithm name that this version of the crate does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key hash algorithm `{0}`")]
pub struct UnknownAlgorithm(pub String);

/// A server-side secret mixed into key hashes with HMAC-SHA256, identified by a version so
/// it can be rotated: rows record the version that hashed them.
///
/// Without a pepper, a leaked database lets an attacker test guesses offline; with one, the
/// stolen hashes are useless without the server's configuration too. `Debug` redacts the
/// secret. Only the keyed HMAC state is kept (the raw secret is not copied), so the caller
/// stays in charge of wiping the bytes it passed in.
#[derive(Clone)]
pub struct Pepper {
    version: u32,
    // Keyed once here: hashing then clones the state instead of re-deriving the HMAC pads
    // from the secret, which halves the work per hash.
    mac: HmacSha256,
}

impl Pepper {
    /// Shortest accepted secret, in bytes (128 bits).
    pub const MIN_LEN: usize = 16;

    /// A pepper with the given version and secret (at least [`Pepper::MIN_LEN`] bytes; 32
    /// random bytes are recommended).
    ///
    /// # Errors
    /// [`PepperError::TooShort`] if the secret is shorter than [`Pepper::MIN_LEN`].
    pub fn new(version: u32, secret: impl AsRef<[u8]>) -> Result<Self, PepperError> {
        let secret = secret.as_ref();
        if secret.len() < Self::MIN_LEN {
            return Err(PepperError::TooShort { len: secret.len() });
        }
        // HMAC takes keys of any length (long ones are hashed first), so this cannot fail.
        let mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
        Ok(Self { version, mac })
    }

    /// The version recorded next to hashes made with this pepper.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    fn mac(&self, plaintext: &str) -> [u8; DIGEST_LEN] {
        let mut mac = self.mac.clone();
        mac.update(plaintext.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pepper")
            .field("version", &self.version)
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

/// Why a [`Pepper`] or a [`KeyHasher`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PepperError {
    /// The secret is shorter than [`Pepper::MIN_LEN`].
    #[error(
        "pepper secret is {len} bytes, at least {} are required",
        Pepper::MIN_LEN
    )]
    TooShort {
        /// The length that was given.
        len: usize,
    },
    /// Two peppers share a version, so a stored version would not say which one to use.
    #[error("two peppers have version {0}")]
    DuplicateVersion(u32),
}

/// A key's stored hash: algorithm, pepper version (for HMAC-SHA256) and digest.
///
/// Store the three parts in their own columns ([`HashAlgorithm::as_str`],
/// [`KeyHash::pepper_version`], [`KeyHash::to_hex`]) and read them back with
/// [`KeyHash::from_hex`]. Equality is constant-time in the digest. `Debug` leaves the digest
/// out: it is not the key, but it is still the thing an attacker would brute-force.
#[derive(Clone)]
pub struct KeyHash {
    algorithm: HashAlgorithm,
    pepper_version: Option<u32>,
    digest: [u8; DIGEST_LEN],
}

impl KeyHash {
    /// A hash from its stored parts.
    ///
    /// # Errors
    /// [`KeyHashError::PepperVersion`] unless the pepper version is present exactly when the
    /// algorithm is [`HashAlgorithm::HmacSha256`].
    pub fn from_parts(
        algorithm: HashAlgorithm,
        pepper_version: Option<u32>,
        digest: [u8; DIGEST_LEN],
    ) -> Result<Self, KeyHashError> {
        let consistent = match algorithm {
            HashAlgorithm::Sha256 => pepper_version.is_none(),
            HashAlgorithm::HmacSha256 => pepper_version.is_some(),
        };
        if !consistent {
            return Err(KeyHashError::PepperVersion(algorithm));
        }
        Ok(Self {
            algorithm,
            pepper_version,
            digest,
        })
    }

    /// A hash from its stored parts, the digest as 64 hex characters (either case).
    ///
    /// # Errors
    /// [`KeyHashError::Digest`] if `digest_hex` is not 64 hex characters, otherwise as
    /// [`KeyHash::from_parts`].
    pub fn from_hex(
        algorithm: HashAlgorithm,
        pepper_version: Option<u32>,
        digest_hex: &str,
    ) -> Result<Self, KeyHashError> {
        let mut digest = [0_u8; DIGEST_LEN];
        hex::decode_to_slice(digest_hex, &mut digest).map_err(|_| KeyHashError::Digest)?;
        Self::from_parts(algorithm, pepper_version, digest)
    }

    /// The algorithm that made this hash.
    #[must_use]
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The pepper version that made this hash; `None` for plain SHA-256.
    #[must_use]
    pub fn pepper_version(&self) -> Option<u32> {
        self.pepper_version
    }

    /// The raw digest.
    #[must_use]
    pub fn digest(&self) -> &[u8; DIGEST_LEN] {
        &self.digest
    }

    /// The digest as 64 lowercase hex characters.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.digest)
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm == other.algorithm
            && self.pepper_version == other.pepper_version
            && bool::from(self.digest.ct_eq(&other.digest))
    }
}

impl Eq for KeyHash {}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyHash")
            .field("algorithm", &self.algorithm)
            .field("pepper_version", &self.pepper_version)
            .finish_non_exhaustive()
    }
}

/// Why stored hash parts were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyHashError {
    /// The digest is not 64 hex characters.
    #[error("key hash digest is not {} hex characters", DIGEST_LEN * 2)]
    Digest,
    /// A pepper version without HMAC, or HMAC without a pepper version.
    #[error("pepper version does not match algorithm {0}")]
    PepperVersion(HashAlgorithm),
}

/// Hashes keys for storage and verifies them, under the current pepper and any retired ones.
///
/// * [`KeyHasher::hash`] uses the current pepper (HMAC-SHA256), or plain SHA-256 without one.
/// * [`KeyHasher::verify`] recomputes with whatever the stored hash records, so keys hashed
///   under a retired pepper, or before any pepper existed, keep working.
/// * [`KeyHasher::needs_rehash`] says when a stored hash is older than the current scheme;
///   rehash it from the plaintext at hand right after a successful verification.
///
/// Rotation: make the new pepper current with the old one retired; rows move over as their
/// keys are used; drop the old pepper once no row records it (keys still on it stop
/// verifying).
#[derive(Debug, Clone)]
pub struct KeyHasher {
    current: Option<Pepper>,
    retired: Vec<Pepper>,
}

impl KeyHasher {
    /// Plain SHA-256 of the full key, no pepper.
    #[must_use]
    pub fn sha256() -> Self {
        Self {
            current: None,
            retired: Vec::new(),
        }
    }

    /// HMAC-SHA256 under `pepper`.
    #[must_use]
    pub fn with_pepper(pepper: Pepper) -> Self {
        Self {
            current: Some(pepper),
            retired: Vec::new(),
        }
    }

    /// Adds a retired pepper: no longer used to hash, still used to verify rows that record
    /// its version.
    ///
    /// # Errors
    /// [`PepperError::DuplicateVersion`] if the hasher already has a pepper with that version.
    pub fn with_retired(mut self, pepper: Pepper) -> Result<Self, PepperError> {
        if self.pepper(pepper.version).is_some() {
            return Err(PepperError::DuplicateVersion(pepper.version));
        }
        self.retired.push(pepper);
        Ok(self)
    }

    /// The algorithm [`KeyHasher::hash`] uses.
    #[must_use]
    pub fn algorithm(&self) -> HashAlgorithm {
        match self.current {
            Some(_) => HashAlgorithm::HmacSha256,
            None => HashAlgorithm::Sha256,
        }
    }

    /// The version of the current pepper, if any.
    #[must_use]
    pub fn pepper_version(&self) -> Option<u32> {
        self.current.as_ref().map(Pepper::version)
    }

    /// Hashes the full key under the current scheme.
    #[must_use]
    pub fn hash(&self, plaintext: &str) -> KeyHash {
        match &self.current {
            Some(pepper) => KeyHash {
                algorithm: HashAlgorithm::HmacSha256,
                pepper_version: Some(pepper.version),
                digest: pepper.mac(plaintext),
            },
            None => KeyHash {
                algorithm: HashAlgorithm::Sha256,
                pepper_version: None,
                digest: sha256(plaintext),
            },
        }
    }

    /// Whether `plaintext` is the key `stored` was made from, recomputing with the stored
    /// algorithm and pepper version and comparing the digests in constant time.
    ///
    /// `false` when the stored pepper version is not one this hasher has (current or
    /// retired).
    #[must_use]
    pub fn verify(&self, plaintext: &str, stored: &KeyHash) -> bool {
        let digest = match (stored.algorithm, stored.pepper_version) {
            (HashAlgorithm::Sha256, _) => sha256(plaintext),
            (HashAlgorithm::HmacSha256, Some(version)) => match self.pepper(version) {
                Some(pepper) => pepper.mac(plaintext),
                None => return false,
            },
            // `KeyHash` cannot be built like this; refuse rather than guess.
            (HashAlgorithm::HmacSha256, None) => return false,
        };
        digest.ct_eq(&stored.digest).into()
    }

    /// Whether `stored` was made under an older scheme than the current one: plain SHA-256
    /// while a pepper is current, or a lower pepper version than the current one.
    ///
    /// A hash made under a *newer* pepper version (or with a pepper while this hasher has
    /// none) is left alone: during a rolling deploy, replicas still on the old configuration
    /// must not undo the rotation the new ones are doing.
    #[must_use]
    pub fn needs_rehash(&self, stored: &KeyHash) -> bool {
        match (&self.current, stored.pepper_version) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(current), Some(version)) => version < current.version,
        }
    }

    fn pepper(&self, version: u32) -> Option<&Pepper> {
        self.current
            .iter()
            .chain(&self.retired)
            .find(|pepper| pepper.version == version)
    }
}

fn sha256(plaintext: &str) -> [u8; DIGEST_LEN] {
    Sha256::digest(plaintext.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "atk_live_0123abcd_00112233445566778899aabbccddeeff";

    fn pepper(version: u32) -> Pepper {
        Pepper::new(version, [u8::try_from(version).unwrap(); 32]).unwrap()
    }

    #[test]
    fn algorithm_names_round_trip() {
        for algorithm in [HashAlgorithm::Sha256, HashAlgorithm::HmacSha256] {
            assert_eq!(algorithm.as_str().parse::<HashAlgorithm>(), Ok(algorithm));
            assert_eq!(algorithm.to_string(), algorithm.as_str());
        }
        assert_eq!(HashAlgorithm::Sha256.as_str(), "sha256");
        assert_eq!(HashAlgorithm::HmacSha256.as_str(), "hmac-sha256");
        assert_eq!(
            "SHA256".parse::<HashAlgorithm>(),
            Err(UnknownAlgorithm("SHA256".to_owned()))
        );
    }

    #[test]
    fn sha256_hashes_the_full_key() {
        // Independent reference: `printf %s "$KEY" | sha256sum`.
        let hash = KeyHasher::sha256().hash(KEY);
        assert_eq!(hash.algorithm(), HashAlgorithm::Sha256);
        assert_eq!(hash.pepper_version(), None);
        assert_eq!(hash.to_hex(), hex::encode(Sha256::digest(KEY)));
    }

    #[test]
    fn hmac_matches_a_fresh_hmac_under_the_pepper() {
        let secret = [7_u8; 32];
        let hash = KeyHasher::with_pepper(Pepper::new(3, secret).unwrap()).hash(KEY);
        let mut reference = HmacSha256::new_from_slice(&secret).unwrap();
        reference.update(KEY.as_bytes());
        assert_eq!(hash.algorithm(), HashAlgorithm::HmacSha256);
        assert_eq!(hash.pepper_version(), Some(3));
        assert_eq!(
            hash.digest().as_slice(),
            reference.finalize().into_bytes().as_slice()
        );
    }

    #[test]
    fn hmac_matches_rfc4231_test_case_6() {
        // A published known answer; test case 6 is the one whose key passes `MIN_LEN`.
        let key = [0xaa_u8; 131];
        let pepper = Pepper::new(1, key).unwrap();
        let digest = pepper.mac("Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            hex::encode(digest),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn verify_accepts_the_key_and_rejects_another() {
        for hasher in [KeyHasher::sha256(), KeyHasher::with_pepper(pepper(1))] {
            let stored = hasher.hash(KEY);
            assert!(hasher.verify(KEY, &stored));
            assert!(!hasher.verify(&KEY.replace("aabb", "aabc"), &stored));
            assert!(!hasher.verify("", &stored));
        }
    }

    #[test]
    fn peppered_hash_does_not_verify_under_another_pepper_with_the_same_version() {
        let stored = KeyHasher::with_pepper(pepper(1)).hash(KEY);
        let impostor = KeyHasher::with_pepper(Pepper::new(1, [9_u8; 32]).unwrap());
        assert!(!impostor.verify(KEY, &stored));
    }

    #[test]
    fn unknown_pepper_version_does_not_verify() {
        let stored = KeyHasher::with_pepper(pepper(1)).hash(KEY);
        assert!(!KeyHasher::with_pepper(pepper(2)).verify(KEY, &stored));
        assert!(!KeyHasher::sha256().verify(KEY, &stored));
    }

    #[test]
    fn rotation_keeps_old_hashes_verifying_while_the_old_pepper_is_retired() {
        let stored = KeyHasher::with_pepper(pepper(1)).hash(KEY);
        let rotated = KeyHasher::with_pepper(pepper(2))
            .with_retired(pepper(1))
            .unwrap();
        assert!(rotated.verify(KEY, &stored));
        assert!(rotated.needs_rehash(&stored));
        let rehashed = rotated.hash(KEY);
        assert_eq!(rehashed.pepper_version(), Some(2));
        assert!(!rotated.needs_rehash(&rehashed));
        assert!(KeyHasher::with_pepper(pepper(2)).verify(KEY, &rehashed));
    }

    #[test]
    fn unpeppered_hashes_keep_verifying_once_a_pepper_is_introduced() {
        let stored = KeyHasher::sha256().hash(KEY);
        let peppered = KeyHasher::with_pepper(pepper(1));
        assert!(peppered.verify(KEY, &stored));
        assert!(peppered.needs_rehash(&stored));
    }

    #[test]
    fn needs_rehash_never_moves_a_hash_backwards() {
        let newer = KeyHasher::with_pepper(pepper(2)).hash(KEY);
        let older_config = KeyHasher::with_pepper(pepper(1))
            .with_retired(pepper(2))
            .unwrap();
        assert!(older_config.verify(KEY, &newer));
        assert!(!older_config.needs_rehash(&newer));
        assert!(!KeyHasher::sha256().needs_rehash(&newer));
        assert!(!KeyHasher::sha256().needs_rehash(&KeyHasher::sha256().hash(KEY)));
    }

    #[test]
    fn duplicate_pepper_versions_are_refused() {
        let err = KeyHasher::with_pepper(pepper(1))
            .with_retired(pepper(1))
            .unwrap_err();
        assert_eq!(err, PepperError::DuplicateVersion(1));
        let err = KeyHasher::sha256()
            .with_retired(pepper(2))
            .unwrap()
            .with_retired(pepper(2))
            .unwrap_err();
        assert_eq!(err, PepperError::DuplicateVersion(2));
    }

    #[test]
    fn short_peppers_are_refused() {
        assert_eq!(
            Pepper::new(1, b"short").unwrap_err(),
            PepperError::TooShort { len: 5 }
        );
        assert!(Pepper::new(1, [0_u8; Pepper::MIN_LEN]).is_ok());
    }

    #[test]
    fn pepper_debug_redacts_the_secret() {
        let pepper = Pepper::new(4, "a very secret pepper value").unwrap();
        assert_eq!(
            format!("{pepper:?}"),
            "Pepper { version: 4, secret: [redacted] }"
        );
    }

    #[test]
    fn key_hash_round_trips_through_its_stored_parts() {
        let hash = KeyHasher::with_pepper(pepper(5)).hash(KEY);
        let hex = hash.to_hex();
        assert_eq!(hex.len(), 64);
        let back = KeyHash::from_hex(hash.algorithm(), hash.pepper_version(), &hex).unwrap();
        assert_eq!(back, hash);
        let upper = KeyHash::from_hex(hash.algorithm(), Some(5), &hex.to_uppercase()).unwrap();
        assert_eq!(upper, hash);
    }

    #[test]
    fn key_hash_parts_must_be_consistent() {
        let hex = "00".repeat(32);
        assert_eq!(
            KeyHash::from_hex(HashAlgorithm::Sha256, Some(1), &hex),
            Err(KeyHashError::PepperVersion(HashAlgorithm::Sha256))
        );
        assert_eq!(
            KeyHash::from_hex(HashAlgorithm::HmacSha256, None, &hex),
            Err(KeyHashError::PepperVersion(HashAlgorithm::HmacSha256))
        );
        for bad in ["", "00", &"0".repeat(63), &"g".repeat(64), &"0".repeat(66)] {
            assert_eq!(
                KeyHash::from_hex(HashAlgorithm::Sha256, None, bad),
                Err(KeyHashError::Digest),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn key_hash_debug_leaves_the_digest_out() {
        let hash = KeyHasher::sha256().hash(KEY);
        assert_eq!(
            format!("{hash:?}"),
            "KeyHash { algorithm: Sha256, pepper_version: None, .. }"
        );
    }
}
