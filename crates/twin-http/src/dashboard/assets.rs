//! The dashboard's stylesheet and script, compiled into the binary and served by the server
//! itself (no CDN, no external resource of any kind).

use actix_web::http::header;
use actix_web::{HttpResponse, get};

/// Where the stylesheet is served.
pub const CSS_PATH: &str = "/dashboard/static/dashboard.css";
/// Where the script is served.
pub const JS_PATH: &str = "/dashboard/static/dashboard.js";

/// Where the icon is served.
pub const ICON_PATH: &str = "/dashboard/static/favicon.svg";

const CSS: &str = include_str!("../../assets/dashboard.css");
const ICON: &str = include_str!("../../assets/favicon.svg");
const JS: &str = include_str!("../../assets/dashboard.js");

/// The stylesheet.
#[get("/dashboard/static/dashboard.css")]
pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(CSS)
}

/// The script.
#[get("/dashboard/static/dashboard.js")]
pub async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(JS)
}

/// The icon.
#[get("/dashboard/static/favicon.svg")]
pub async fn icon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(ICON)
}
