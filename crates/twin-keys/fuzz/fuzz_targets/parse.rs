//! Feeds arbitrary bytes to `KeyFormat::parse`: it must never panic, and whatever it accepts
//! must have the format's exact shape and a correct checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twin_keys::{KeyFormat, ParseError};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check(&KeyFormat::twin(), input);
    // A prefix word containing `_`, an id of odd length and a checksum: the parser's less
    // travelled paths.
    let other = KeyFormat::builder("uk_afa")
        .environments(["live", "test", "dev"])
        .id_len(5)
        .secret_len(40)
        .checksum(true)
        .build()
        .expect("valid format");
    check(&other, input);
});

fn check(format: &KeyFormat, input: &str) {
    match format.parse(input) {
        Ok(parsed) => {
            assert_eq!(Some(input.len()), format.key_len(parsed.env()));
            assert!(input.starts_with(parsed.display_prefix()));
            assert!(input.is_ascii());
            let (covered, written) = input.split_at(input.len() - 8);
            assert_eq!(
                written,
                format!("{:08x}", crc32_reference(covered.as_bytes()))
            );
        }
        Err(ParseError::Checksum | ParseError::Format(_)) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// CRC32 (IEEE), bit by bit: an oracle independent of the crate's `crc32fast`.
fn crc32_reference(bytes: &[u8]) -> u32 {
    let mut crc = !0_u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
