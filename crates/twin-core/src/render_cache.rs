//! A bounded cache of rendered presets.
//!
//! A rendering depends only on the snapshot's content and the request's options, so the key
//! holds the snapshot id, its last-change time and every option; a changed snapshot gets a
//! new key and the old entry ages out. Memory stays bounded by the entry count.

use std::sync::Arc;

use twin_render::{Format, Lang, Rendered, Variant};

/// Everything that determines a rendering's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenderKey {
    /// Snapshot id (`sample` for the built-in sample twin).
    pub snapshot_id: String,
    /// The snapshot's last change (Unix ms), so an edited document is rendered again.
    pub snapshot_updated: i64,
    /// Preset slug.
    pub preset: String,
    /// Output format.
    pub format: Format,
    /// Requested language (`None` = source language).
    pub lang: Option<Lang>,
    /// Prompt shape.
    pub variant: Variant,
    /// Narratives on/off (`None` = preset default).
    pub include_narratives: Option<bool>,
}

/// A rendering ready to send: the body is shared, so answering copies no bytes.
#[derive(Debug)]
pub struct CachedRender {
    /// The body.
    pub body: bytes::Bytes,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The served language.
    pub lang: Lang,
    /// The strong `ETag` (quoted), as shared bytes ready for a header value.
    pub etag: bytes::Bytes,
}

/// A bounded map from [`RenderKey`] to rendered output.
#[derive(Clone)]
pub struct RenderCache(moka::sync::Cache<RenderKey, Arc<CachedRender>>);

impl RenderCache {
    /// A cache holding renderings of at most `max_bytes` in all.
    pub fn new(max_bytes: u64) -> Self {
        // Weighed by body size, so memory stays bounded whatever the documents' sizes.
        RenderCache(
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_key: &RenderKey, value: &Arc<CachedRender>| {
                    u32::try_from(value.body.len() + 256).unwrap_or(u32::MAX)
                })
                .build(),
        )
    }

    /// The cached rendering for `key`, or the one `render` makes (then cached). A failed
    /// rendering is not cached.
    pub fn get_or_render<E: Send + Sync + 'static>(
        &self,
        key: RenderKey,
        render: impl FnOnce() -> Result<Rendered, E>,
    ) -> Result<Arc<CachedRender>, Arc<E>> {
        self.0.try_get_with(key, || {
            render().map(|r| {
                Arc::new(CachedRender {
                    etag: bytes::Bytes::from(r.etag),
                    body: bytes::Bytes::from(r.body),
                    content_type: r.content_type,
                    lang: r.lang,
                })
            })
        })
    }
}
