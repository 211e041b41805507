//! Property tests: round trips over random formats, rejection of every single-character
//! change to a valid key, and hashing, verification and pepper rotation.

use proptest::prelude::*;
use proptest::sample::Index;
use twin_keys::{
    DisplayPrefix, KeyFormat, KeyHasher, MAX_ID_LEN, MAX_SECRET_LEN, MIN_RANDOM_LEN, ParseError,
    Pepper,
};

/// Any format the builder accepts, with the default display prefix.
fn any_format() -> impl Strategy<Value = KeyFormat> {
    (
        "[a-z][a-zA-Z0-9]{0,4}(_[a-z0-9]{1,4}){0,2}",
        prop::collection::hash_set("[a-zA-Z0-9]{1,10}", 1..5),
        0..=MAX_ID_LEN,
        MIN_RANDOM_LEN..=MAX_SECRET_LEN,
        any::<bool>(),
    )
        .prop_map(|(prefix, envs, id_len, secret_len, checksum)| {
            let secret_len = if checksum {
                secret_len.max(MIN_RANDOM_LEN + 8)
            } else {
                secret_len
            };
            KeyFormat::builder(prefix)
                .environments(envs)
                .id_len(id_len)
                .secret_len(secret_len)
                .checksum(checksum)
                .build()
                .unwrap()
        })
}

/// A valid twin key built from the given randomness, its checksum computed with `crc32fast`
/// directly rather than through the crate.
fn twin_key() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("live"), Just("test")],
        any::<[u8; 4]>(),
        any::<[u8; 12]>(),
    )
        .prop_map(|(env, id, secret)| {
            let body = format!("atk_{env}_{}_{}", hex(&id), hex(&secret));
            format!("{body}{:08x}", crc32fast::hash(body.as_bytes()))
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Characters to substitute or insert: mostly the ones a key is made of, so the checksum
/// (not just the shape check) gets exercised, plus anything at all.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::char::range('0', '9'),
        3 => prop::char::range('a', 'f'),
        1 => Just('_'),
        1 => prop::char::range('A', 'Z'),
        2 => any::<char>(),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Substitute(Index, char),
    Delete(Index),
    Insert(Index, char),
}

fn any_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), any_char()).prop_map(|(at, c)| Edit::Substitute(at, c)),
        any::<Index>().prop_map(Edit::Delete),
        (any::<Index>(), any_char()).prop_map(|(at, c)| Edit::Insert(at, c)),
    ]
}

fn any_pepper_secret() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), Pepper::MIN_LEN..=80)
}

proptest! {
    #[test]
    fn generated_keys_parse_back_for_every_environment(format in any_format()) {
        let envs: Vec<String> = format.environments().map(str::to_owned).collect();
        for env in &envs {
            let key = format.generate(env).unwrap();
            let plain = key.expose_secret();
            prop_assert_eq!(Some(plain.len()), format.key_len(env));

            let parsed = format.parse(plain).unwrap();
            prop_assert_eq!(parsed.env(), env.as_str());
            prop_assert_eq!(parsed.id(), key.id());
            prop_assert_eq!(parsed.id().map_or(0, str::len), format.id_len());
            prop_assert_eq!(parsed.display_prefix(), key.display_prefix());
            prop_assert!(plain.starts_with(parsed.display_prefix()));

            // The key is literally `<prefix>_<env>[_<id>]_<secret>` in lowercase hex.
            let id_part = parsed.id().map(|id| format!("{id}_")).unwrap_or_default();
            let head = format!("{}_{env}_{id_part}", format.prefix());
            let secret = plain.strip_prefix(&head).unwrap();
            prop_assert_eq!(secret.len(), format.secret_len());
            prop_assert!(secret.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
    }

    #[test]
    fn generated_twin_keys_match_the_spec_regex_shape(env in prop_oneof![Just("live"), Just("test")]) {
        let key = KeyFormat::twin().generate(env).unwrap();
        let plain = key.expose_secret();
        let parts: Vec<&str> = plain.split('_').collect();
        prop_assert_eq!(parts.len(), 4);
        prop_assert_eq!(parts[0], "atk");
        prop_assert_eq!(parts[1], env);
        prop_assert_eq!(parts[2].len(), 8);
        prop_assert_eq!(parts[3].len(), 32);
        prop_assert_eq!(key.display_prefix(), format!("atk_{env}_{}", parts[2]));
    }

    #[test]
    fn display_prefixes_are_cut_where_configured(
        format in any_format(),
        shown in 0..=MIN_RANDOM_LEN / 2,
    ) {
        let env = format.environments().next().unwrap().to_owned();
        let head_len = format.key_len(&env).unwrap() - format.secret_len();
        let secret_chars = KeyFormat::builder(format.prefix())
            .environments([env.clone()])
            .id_len(format.id_len())
            .secret_len(format.secret_len())
            .checksum(format.has_checksum())
            .display_prefix(DisplayPrefix::SecretChars(shown))
            .build()
            .unwrap();
        let key = secret_chars.generate(&env).unwrap();
        prop_assert_eq!(key.display_prefix().len(), head_len + shown);

        let chars = KeyFormat::builder(format.prefix())
            .environments([env.clone()])
            .id_len(format.id_len())
            .secret_len(format.secret_len())
            .checksum(format.has_checksum())
            .display_prefix(DisplayPrefix::Chars(head_len + shown))
            .build()
            .unwrap();
        let key = chars.generate(&env).unwrap();
        prop_assert_eq!(key.display_prefix().len(), head_len + shown);
        prop_assert_eq!(chars.parse(key.expose_secret()).unwrap().display_prefix(), key.display_prefix());
    }

    #[test]
    fn parse_never_panics_and_accepts_only_what_it_should(input in ".{0,60}") {
        // Anything that parses must have the spec's shape; random text essentially never
        // does, and must not panic either way.
        if let Ok(parsed) = KeyFormat::twin().parse(&input) {
            prop_assert_eq!(input.len(), 50);
            prop_assert!(input.starts_with(parsed.display_prefix()));
        }
    }

    #[test]
    fn parse_never_panics_on_near_keys(key in twin_key(), tail in ".{0,4}", cut in any::<Index>()) {
        let near = format!("{}{tail}", &key[..cut.index(key.len() + 1)]);
        let _ = KeyFormat::twin().parse(&near);
    }
}

proptest! {
    // Cheap cases and the property the checksum exists for: run many more than the default.
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn any_single_character_edit_of_a_twin_key_is_rejected(
        key in twin_key(),
        edit in any_edit(),
    ) {
        let twin = KeyFormat::twin();
        prop_assert!(twin.parse(&key).is_ok());

        // The key is ASCII, so byte positions are character positions.
        let mut edited = key.clone();
        let hex_to_hex = match edit {
            Edit::Substitute(at, c) => {
                let pos = at.index(key.len());
                let original = char::from(key.as_bytes()[pos]);
                prop_assume!(c != original);
                edited.replace_range(pos..=pos, c.encode_utf8(&mut [0; 4]));
                original.is_ascii_hexdigit() && matches!(c, '0'..='9' | 'a'..='f')
                    && pos >= "atk_live_".len()
            }
            Edit::Delete(at) => {
                edited.remove(at.index(key.len()));
                false
            }
            Edit::Insert(at, c) => {
                edited.insert(at.index(key.len() + 1), c);
                false
            }
        };

        let result = twin.parse(&edited);
        prop_assert!(result.is_err(), "{:?} accepted after {:?}", edited, edit);
        // CRC32 detects every burst error of up to 32 bits, so one changed hex digit
        // anywhere in the id or secret is always caught by the checksum.
        if hex_to_hex {
            prop_assert_eq!(result.unwrap_err(), ParseError::Checksum);
        }
    }

}

proptest! {
    #[test]
    fn verify_accepts_the_hashed_key_and_nothing_else(
        key in twin_key(),
        other in twin_key(),
        garbage in ".{0,80}",
        secret in any_pepper_secret(),
        version in any::<u32>(),
    ) {
        let peppered = KeyHasher::with_pepper(Pepper::new(version, &secret).unwrap());
        for hasher in [KeyHasher::sha256(), peppered] {
            let stored = hasher.hash(&key);
            prop_assert!(hasher.verify(&key, &stored));
            prop_assert!(!hasher.needs_rehash(&stored));
            if other != key {
                prop_assert!(!hasher.verify(&other, &stored));
            }
            if garbage != key {
                prop_assert!(!hasher.verify(&garbage, &stored));
            }
        }
    }

    #[test]
    fn pepper_rotation_keeps_old_hashes_until_the_old_pepper_is_dropped(
        key in twin_key(),
        old_secret in any_pepper_secret(),
        new_secret in any_pepper_secret(),
        old_version in 0..u32::MAX,
        step in 1..=u32::MAX,
    ) {
        let new_version = old_version.saturating_add(step);
        let old = Pepper::new(old_version, &old_secret).unwrap();
        let new = Pepper::new(new_version, &new_secret).unwrap();
        let stored = KeyHasher::with_pepper(old.clone()).hash(&key);

        let rotated = KeyHasher::with_pepper(new.clone()).with_retired(old).unwrap();
        prop_assert!(rotated.verify(&key, &stored));
        prop_assert!(rotated.needs_rehash(&stored));
        let rehashed = rotated.hash(&key);
        prop_assert_eq!(rehashed.pepper_version(), Some(new_version));
        prop_assert!(!rotated.needs_rehash(&rehashed));

        let dropped = KeyHasher::with_pepper(new);
        prop_assert!(!dropped.verify(&key, &stored));
        prop_assert!(dropped.verify(&key, &rehashed));
    }

    #[test]
    fn stored_hashes_survive_their_text_form(key in ".{0,80}", secret in any_pepper_secret()) {
        for hasher in [KeyHasher::sha256(), KeyHasher::with_pepper(Pepper::new(9, &secret).unwrap())] {
            let hash = hasher.hash(&key);
            let algorithm = hash.algorithm().as_str().parse().unwrap();
            let back = twin_keys::KeyHash::from_hex(algorithm, hash.pepper_version(), &hash.to_hex()).unwrap();
            prop_assert_eq!(&back, &hash);
            prop_assert!(hasher.verify(&key, &back));
        }
    }
}
