//! The web console: one page and its assets, compiled into the binary (nothing is fetched at run
//! time), served at `/` and `/console/...` by the same router as the API, so `automations serve`
//! and the AWS `config-api` function both serve it. The page signs in with an API key kept in the
//! browser's session storage and calls the API from the same origin.
//!
//! The files live in `shared/api/console/`: the console's own (`index.html`, `app.js`,
//! `app.css`, no build step) and `vendor/` (uPlot, copied from npm by `scripts/console-vendor`,
//! its version pinned in `package-lock.json`; a test checks the copy is current).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// (path, media type, content) of every file served.
pub const FILES: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("../console/index.html")),
    ("/console/app.js", "text/javascript; charset=utf-8", include_str!("../console/app.js")),
    ("/console/app.css", "text/css; charset=utf-8", include_str!("../console/app.css")),
    (
        "/console/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/vendor/uPlot.iife.min.js"),
    ),
    ("/console/uPlot.min.css", "text/css; charset=utf-8", include_str!("../console/vendor/uPlot.min.css")),
];

/// Scripts and styles from this origin only, API calls to this origin only, no framing, and no
/// referrer (the page's URL holds only hash routes, never a key, but a referrer has no use here).
/// uPlot sizes its elements through their `style` properties, which `style-src 'self'` allows.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's routes, to merge into the API's router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for &(path, media, body) in FILES {
        router = router.route(path, get(move || async move { file(media, body) }));
    }
    router
}

fn file(media: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    // Revalidated on every load, so a new binary's console is seen at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored uPlot is the version `package-lock.json` pins (its files start with
    /// `/*! https://github.com/leeoniya/uPlot (vX.Y.Z) */`); `scripts/console-vendor --check`
    /// compares the bytes with a fresh `npm ci`.
    #[test]
    fn the_vendored_chart_library_is_the_locked_version() {
        let lock: serde_json::Value = serde_json::from_str(include_str!("../console/package-lock.json")).unwrap();
        let version = lock["packages"]["node_modules/uplot"]["version"].as_str().unwrap();
        let js = include_str!("../console/vendor/uPlot.iife.min.js");
        assert!(js.starts_with(&format!("/*! https://github.com/leeoniya/uPlot (v{version}) */")), "{}", &js[..80]);
        let package: serde_json::Value = serde_json::from_str(include_str!("../console/package.json")).unwrap();
        assert_eq!(package["dependencies"]["uplot"], version, "package.json pins the locked version exactly");
    }

    /// Every script and stylesheet the page loads is one that is served.
    #[test]
    fn the_page_loads_only_files_that_are_served() {
        let page = FILES[0].2;
        let mut loaded = 0;
        for attr in ["src=\"", "href=\""] {
            for part in page.split(attr).skip(1) {
                let target = &part[..part.find('"').unwrap()];
                if target.starts_with('#') {
                    continue;
                }
                let path = format!("/{target}");
                assert!(FILES.iter().any(|(p, ..)| *p == path), "the page loads {target}, which is not served");
                loaded += 1;
            }
        }
        assert!(loaded >= 4, "the page loads its script, styles and uPlot ({loaded})");
    }
}
