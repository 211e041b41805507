//! Every key format named in the seed documents, described with `KeyFormat` and exercised:
//! generate, parse, reject a wrong key.
//!
//! | seed | format | notes |
//! |---|---|---|
//! | AfiniTwin (000) | `atk_<live\|test>_<8 hex>_<32 hex>` | `KeyFormat::twin()`, CRC32 checksum |
//! | Twyn (002) | `twyn_<live\|test>_<64 hex>` | no id, no checksum |
//! | AgentFlow (004) | `af_live_<64 hex>` | display prefix = first 12 characters |
//! | Twig (001) | `sk_<live\|test>_<64 hex>` | the seed shows only `sk_live_abc123…`; 64 hex (256 bits) like its siblings |
//! | AFA (003) | `uk_afa_live_<64 hex>` | the seed shows only `uk_afa_live_…`; a prefix word with `_` |

use twin_keys::{DisplayPrefix, FormatIssue, KeyFormat, ParseError};

fn twyn() -> KeyFormat {
    KeyFormat::builder("twyn")
        .environments(["live", "test"])
        .secret_len(64)
        .build()
        .unwrap()
}

fn agentflow() -> KeyFormat {
    KeyFormat::builder("af")
        .environments(["live"])
        .secret_len(64)
        .display_prefix(DisplayPrefix::Chars(12))
        .build()
        .unwrap()
}

fn twig() -> KeyFormat {
    KeyFormat::builder("sk")
        .environments(["live", "test"])
        .secret_len(64)
        .build()
        .unwrap()
}

fn afa() -> KeyFormat {
    KeyFormat::builder("uk_afa")
        .environments(["live"])
        .secret_len(64)
        .build()
        .unwrap()
}

fn format_issue(format: &KeyFormat, key: &str) -> FormatIssue {
    match format.parse(key) {
        Err(ParseError::Format(issue)) => issue,
        other => panic!("{key:?} was not rejected as malformed: {other:?}"),
    }
}

/// Generates a key for each environment, checks it against the format's regex by hand and
/// parses it back.
fn round_trip(format: &KeyFormat, envs: &[&str], expected_len: usize) {
    for env in envs {
        let key = format.generate(env).unwrap();
        let plain = key.expose_secret();
        assert_eq!(plain.len(), expected_len, "{key:?}");
        assert!(plain.starts_with(&format!("{}_{env}_", format.prefix())));
        let parsed = format.parse(plain).unwrap();
        assert_eq!(parsed.env(), *env);
        assert_eq!(parsed.display_prefix(), key.display_prefix());
        assert!(plain.starts_with(parsed.display_prefix()));
    }
}

#[test]
fn afinitwin_atk_keys() {
    let twin = KeyFormat::twin();
    round_trip(&twin, &["live", "test"], 50);
    let key = twin.generate("live").unwrap();
    let parsed = twin.parse(key.expose_secret()).unwrap();
    assert_eq!(parsed.display_prefix().len(), "atk_live_".len() + 8);
    assert_eq!(parsed.id(), key.id());

    // The seed's placeholder has the right shape but is not hex.
    let placeholder = "atk_live_xxxxxxxx_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy";
    assert_eq!(format_issue(&twin, placeholder), FormatIssue::Id);
    // Right shape, made-up secret: caught by the checksum.
    let made_up = "atk_live_0123abcd_0123456789abcdef0123456789abcdef";
    assert_eq!(twin.parse(made_up).unwrap_err(), ParseError::Checksum);
    // Another service's key is not a twin key.
    let foreign = twyn().generate("live").unwrap();
    assert_eq!(
        format_issue(&twin, foreign.expose_secret()),
        FormatIssue::Prefix
    );
}

#[test]
fn twyn_keys() {
    let twyn = twyn();
    assert_eq!(twyn.regex(), "^twyn_(live|test)_[0-9a-f]{64}$");
    round_trip(&twyn, &["live", "test"], 5 + 5 + 64);
    let key = twyn.generate("test").unwrap();
    assert_eq!(key.id(), None);
    assert!(key.parsed().is_test());

    assert_eq!(
        format_issue(&twyn, "twyn_live_your_key_here"),
        FormatIssue::Length
    );
    let upper = key
        .expose_secret()
        .to_uppercase()
        .replacen("TWYN_TEST", "twyn_test", 1);
    assert_eq!(format_issue(&twyn, &upper), FormatIssue::Secret);
    let prod = key.expose_secret().replacen("test", "prod", 1);
    assert_eq!(format_issue(&twyn, &prod), FormatIssue::Environment);
    // Without a checksum, any 64 lowercase hex characters are a well-formed key.
    let any = format!("twyn_live_{}", "0".repeat(64));
    assert!(twyn.parse(&any).is_ok());
}

#[test]
fn agentflow_af_live_keys() {
    let agentflow = agentflow();
    assert_eq!(agentflow.regex(), "^af_(live)_[0-9a-f]{64}$");
    // "Keys are 72 characters: af_live_ followed by 64 hex chars."
    round_trip(&agentflow, &["live"], 72);

    // The seed's example is one hex digit short of its own 72-character rule...
    let seed_example = "af_live_3f9a82b1c4e6d77a5b2c1d8e6f4a3b9c2d1e8f7a6b5c4d3e2f1a09b8c7d6e5f";
    assert_eq!(seed_example.len(), 71);
    assert_eq!(format_issue(&agentflow, seed_example), FormatIssue::Length);
    // ...and, completed, shows the documented 12-character display prefix.
    let completed = format!("{seed_example}0");
    let parsed = agentflow.parse(&completed).unwrap();
    assert_eq!(parsed.display_prefix(), "af_live_3f9a");
    assert_eq!(parsed.id(), None);

    let test_env = completed.replacen("live", "test", 1);
    assert_eq!(
        format_issue(&agentflow, &test_env),
        FormatIssue::Environment
    );
}

#[test]
fn twig_sk_keys() {
    let twig = twig();
    assert_eq!(twig.regex(), "^sk_(live|test)_[0-9a-f]{64}$");
    round_trip(&twig, &["live", "test"], 3 + 5 + 64);
    let key = twig.generate("live").unwrap();
    assert_eq!(key.display_prefix().len(), "sk_live_".len() + 4);

    assert_eq!(
        format_issue(&twig, "sk_live_abc123..."),
        FormatIssue::Length
    );
    let too_long = format!("{}0", key.expose_secret());
    assert_eq!(format_issue(&twig, &too_long), FormatIssue::Length);
}

#[test]
fn afa_uk_afa_keys() {
    let afa = afa();
    assert_eq!(afa.prefix(), "uk_afa");
    assert_eq!(afa.regex(), "^uk_afa_(live)_[0-9a-f]{64}$");
    round_trip(&afa, &["live"], 7 + 5 + 64);
    let key = afa.generate("live").unwrap();
    assert!(key.display_prefix().starts_with("uk_afa_live_"));

    assert_eq!(
        format_issue(&afa, "uk_afa_live_xyz789..."),
        FormatIssue::Length
    );
    // The prefix word must match whole: `uk_` alone, or an `afa` env, are not enough.
    let shifted = key
        .expose_secret()
        .replacen("uk_afa_live", "uk_live_afa", 1);
    assert_eq!(format_issue(&afa, &shifted), FormatIssue::Prefix);
}

#[test]
fn seed_formats_do_not_accept_each_other() {
    let formats = [KeyFormat::twin(), twyn(), agentflow(), twig(), afa()];
    for (i, generator) in formats.iter().enumerate() {
        let key = generator.generate("live").unwrap();
        for (j, parser) in formats.iter().enumerate() {
            assert_eq!(
                parser.parse(key.expose_secret()).is_ok(),
                i == j,
                "{} parsed by {}",
                generator.prefix(),
                parser.prefix()
            );
        }
    }
}
