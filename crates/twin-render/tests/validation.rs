//! Document validation: each rule rejects with the JSON Pointer of the first offending value.

use serde_json::{Value, json};
use twin_render::{
    DocumentError, MAX_DOCUMENT_BYTES, SAMPLE_TWIN_JSON, TwinDocument, parse_document,
    validate_value,
};

/// A change applied to the base document.
type Mutation = fn(&mut Value);

fn base() -> Value {
    json!({
        "schemaVersion": 1,
        "sourceLang": "es",
        "subject": { "displayName": "Ana García" },
        "sections": [
            {
                "key": "identity",
                "title": { "es": "Identidad", "en": "Identity" },
                "facts": [ { "es": "Vive en Sevilla.", "en": "Lives in Seville." } ]
            },
            {
                "key": "communication_style",
                "title": { "es": "Estilo de comunicación" },
                "facts": [
                    { "es": "Prefiere respuestas breves.", "en": "Prefers short answers." },
                    { "es": "Tutea.", "fr": "Tutoie." }
                ],
                "narrative": { "es": "Directa.", "en": "Direct." }
            },
            {
                "key": "boundaries",
                "title": { "es": "Límites" },
                "facts": [ { "es": "Nada de política." } ]
            }
        ]
    })
}

/// Parses `doc` both ways (bytes and value) and returns the error, checking they agree.
fn reject(doc: &Value) -> DocumentError {
    let from_bytes = parse_document(&serde_json::to_vec(doc).unwrap()).unwrap_err();
    let from_value = validate_value(doc).unwrap_err();
    assert_eq!(from_bytes, from_value);
    from_bytes
}

fn assert_path(doc: &Value, path: &str) -> String {
    let err = reject(doc);
    assert_eq!(err.path(), path, "{err}");
    match err {
        DocumentError::Invalid { message, .. } => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn the_base_document_and_the_sample_twin_are_valid() {
    let doc = validate_value(&base()).unwrap();
    assert_eq!(doc.sections.len(), 3);
    assert_eq!(doc.subject.display_name, "Ana García");
    parse_document(SAMPLE_TWIN_JSON.as_bytes()).unwrap();
}

#[test]
fn missing_source_language_entry_names_the_entry() {
    let mut doc = base();
    doc["sections"][1]["facts"][1] = json!({ "en": "Uses first names." });
    let message = assert_path(&doc, "/sections/1/facts/1/es");
    assert!(message.contains("\"es\""), "{message}");
}

#[test]
fn empty_or_blank_source_language_entry_is_missing() {
    for blank in ["", "   ", "\n\t"] {
        let mut doc = base();
        doc["sections"][2]["title"]["es"] = json!(blank);
        assert_path(&doc, "/sections/2/title/es");
    }
}

#[test]
fn missing_source_entry_in_a_narrative_and_a_title() {
    let mut doc = base();
    doc["sections"][1]["narrative"] = json!({ "en": "Direct." });
    assert_path(&doc, "/sections/1/narrative/es");
    let mut doc = base();
    doc["sourceLang"] = json!("en");
    // The first map without English is the second section's title.
    assert_path(&doc, "/sections/1/title/en");
}

#[test]
fn duplicate_section_keys() {
    let mut doc = base();
    doc["sections"][2]["key"] = json!("identity");
    let message = assert_path(&doc, "/sections/2/key");
    assert!(message.contains("/sections/0"), "{message}");
}

#[test]
fn bad_section_keys() {
    for bad in [
        "Identity",
        "1st",
        "_x",
        "with-dash",
        "sp ace",
        "ñ",
        "",
        &"k".repeat(65),
    ] {
        let mut doc = base();
        doc["sections"][0]["key"] = json!(bad);
        assert_path(&doc, "/sections/0/key");
    }
    let mut doc = base();
    doc["sections"][0]["key"] = json!("k".repeat(64));
    validate_value(&doc).unwrap();
}

#[test]
fn too_many_sections() {
    let mut doc = base();
    let section = doc["sections"][0].clone();
    let sections: Vec<Value> = (0..65)
        .map(|i| {
            let mut s = section.clone();
            s["key"] = json!(format!("s{i}"));
            s
        })
        .collect();
    doc["sections"] = json!(sections[..64]);
    validate_value(&doc).unwrap();
    doc["sections"] = json!(sections);
    assert_path(&doc, "/sections");
}

#[test]
fn too_many_facts() {
    let mut doc = base();
    let fact = json!({ "es": "x" });
    doc["sections"][1]["facts"] = json!(vec![fact.clone(); 200]);
    validate_value(&doc).unwrap();
    doc["sections"][1]["facts"] = json!(vec![fact; 201]);
    assert_path(&doc, "/sections/1/facts");
}

#[test]
fn strings_are_limited_in_characters_not_bytes() {
    let mut doc = base();
    // 4,000 two-byte characters: 8,000 bytes, still within the limit.
    doc["sections"][0]["facts"][0]["en"] = json!("é".repeat(4000));
    validate_value(&doc).unwrap();
    doc["sections"][0]["facts"][0]["en"] = json!("é".repeat(4001));
    let message = assert_path(&doc, "/sections/0/facts/0/en");
    assert!(message.contains("4000"), "{message}");
    assert!(message.len() < 200, "the message does not quote the string");
    let mut doc = base();
    doc["subject"]["displayName"] = json!("x".repeat(4001));
    assert_path(&doc, "/subject/displayName");
}

#[test]
fn oversized_documents_are_rejected_before_parsing() {
    let mut doc = base();
    // Many long strings in a map: each is legal, the whole is too big.
    let filler: Vec<Value> = (0..70).map(|_| json!({ "es": "x".repeat(3900) })).collect();
    doc["sections"][0]["facts"] = json!(filler);
    let bytes = serde_json::to_vec(&doc).unwrap();
    assert!(bytes.len() > MAX_DOCUMENT_BYTES);
    let err = parse_document(&bytes).unwrap_err();
    assert_eq!(
        err,
        DocumentError::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES
        }
    );
    assert_eq!(err.path(), "");
    assert!(matches!(
        validate_value(&doc),
        Err(DocumentError::TooLarge { .. })
    ));
    // Not even JSON: the size check comes first.
    let junk = vec![b'{'; MAX_DOCUMENT_BYTES + 1];
    assert!(matches!(
        parse_document(&junk),
        Err(DocumentError::TooLarge { .. })
    ));
}

#[test]
fn wrong_schema_version() {
    for version in [json!(2), json!(0), json!("1"), json!(null)] {
        let mut doc = base();
        doc["schemaVersion"] = version;
        assert_path(&doc, "/schemaVersion");
    }
    let mut doc = base();
    doc.as_object_mut().unwrap().remove("schemaVersion");
    let message = assert_path(&doc, "");
    assert!(message.contains("schemaVersion"), "{message}");
}

#[test]
fn invalid_json_reports_line_and_column() {
    let err = parse_document(b"{\n  \"schemaVersion\": 1,\n  oops\n}").unwrap_err();
    match err {
        DocumentError::InvalidJson { line, column, .. } => {
            assert_eq!(line, 3);
            assert_eq!(column, 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_document(b""),
        Err(DocumentError::InvalidJson { .. })
    ));
    assert!(matches!(
        parse_document(&[0xff, 0xfe]),
        Err(DocumentError::InvalidJson { .. })
    ));
}

#[test]
fn schema_errors_carry_the_json_pointer() {
    let cases: Vec<(Mutation, &str)> = vec![
        (|d| d["sourceLang"] = json!("xx"), "/sourceLang"),
        (
            |d| d["sections"][2]["facts"][0]["es"] = json!(42),
            "/sections/2/facts/0/es",
        ),
        (
            |d| d["sections"][0]["title"]["xx"] = json!("?"),
            "/sections/0/title",
        ),
        (
            |d| {
                d["sections"][1].as_object_mut().unwrap().remove("key");
            },
            "/sections/1",
        ),
        (
            |d| d["sections"][0]["facts"] = json!("nope"),
            "/sections/0/facts",
        ),
        (|d| d["sections"][1]["extra"] = json!(true), "/sections/1"),
        (|d| d["unexpected"] = json!(1), ""),
        (
            |d| d["subject"]["displayName"] = json!(""),
            "/subject/displayName",
        ),
        (|d| d["sections"] = json!({}), "/sections"),
    ];
    for (mutate, path) in cases {
        let mut doc = base();
        mutate(&mut doc);
        assert_path(&doc, path);
    }
    // A document that is not even an object.
    assert_path(&json!([1, 2]), "");
}

#[test]
fn blank_display_name_is_rejected() {
    let mut doc = base();
    doc["subject"]["displayName"] = json!("   ");
    assert_path(&doc, "/subject/displayName");
}

#[test]
fn schema_messages_never_quote_huge_values() {
    let mut doc = base();
    doc["sections"] = json!("x".repeat(10_000));
    let message = assert_path(&doc, "/sections");
    assert!(message.chars().count() <= 201, "{message}");
}

#[test]
fn typed_documents_are_checked_by_validate() {
    let mut doc: TwinDocument = serde_json::from_value(base()).unwrap();
    doc.validate().unwrap();
    doc.schema_version = 2;
    assert_eq!(doc.validate().unwrap_err().path(), "/schemaVersion");
    let mut doc: TwinDocument = serde_json::from_value(base()).unwrap();
    let extra = doc.sections[0].clone();
    doc.sections = (0..65)
        .map(|i| {
            let mut s = extra.clone();
            s.key = format!("s{i}");
            s
        })
        .collect();
    assert_eq!(doc.validate().unwrap_err().path(), "/sections");
    let mut doc: TwinDocument = serde_json::from_value(base()).unwrap();
    doc.sections[1].key = "Bad".into();
    assert_eq!(doc.validate().unwrap_err().path(), "/sections/1/key");
    let mut doc: TwinDocument = serde_json::from_value(base()).unwrap();
    doc.sections[0].facts = vec![doc.sections[0].facts[0].clone(); 201];
    assert_eq!(doc.validate().unwrap_err().path(), "/sections/0/facts");
}

#[test]
fn a_valid_document_round_trips_through_json() {
    let doc = validate_value(&base()).unwrap();
    let back = serde_json::to_value(&doc).unwrap();
    assert_eq!(back, base());
}
