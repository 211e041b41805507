//! The built-in sample twin, served to test keys and by `demo`.

use std::sync::LazyLock;

use crate::{TwinDocument, parse_document};

/// The sample twin as JSON (`data/sample-twin.json`): Lucía Navarro Pardo, a fictional
/// agronomist, written in Spanish and translated into all six languages.
pub const SAMPLE_TWIN_JSON: &str = include_str!("../data/sample-twin.json");

static SAMPLE: LazyLock<TwinDocument> = LazyLock::new(|| {
    parse_document(SAMPLE_TWIN_JSON.as_bytes()).expect("the bundled sample twin is valid")
});

/// The sample twin, parsed and validated once.
pub fn sample_twin() -> &'static TwinDocument {
    &SAMPLE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    #[test]
    fn sample_twin_is_valid_and_fully_translated() {
        let doc = sample_twin();
        assert_eq!(doc.source_lang, Lang::Es);
        assert!((5..=7).contains(&doc.sections.len()));
        let mut narratives = 0;
        for section in &doc.sections {
            assert!((3..=6).contains(&section.facts.len()), "{}", section.key);
            let texts = std::iter::once(&section.title)
                .chain(&section.facts)
                .chain(section.narrative.as_ref());
            for text in texts {
                for &lang in Lang::ALL {
                    assert!(text.get(lang).is_some(), "{} lacks {lang}", section.key);
                }
            }
            narratives += usize::from(section.narrative.is_some());
        }
        assert!(
            narratives * 2 > doc.sections.len(),
            "narratives on most sections"
        );
    }
}
