//! GraphiQL served from the binary: the page at `GET /graphql` (without a
//! query) and its scripts and styles at `/graphiql/assets/<file>`. Nothing
//! is loaded from another host, so the IDE works on networks that reach no
//! CDN (government intranets, 政务外网, a laptop offline). The files are the
//! UMD builds of GraphiQL and React from npm, pinned and kept with their
//! licences in `api/assets/graphiql/` (its README says where each came from).

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

/// Where the assets are served.
pub const ASSETS_PATH: &str = "/graphiql/assets";

/// The page may run scripts and load styles from this server only, and
/// talk to this server only (HTTP and WebSocket). Styles may be inline:
/// GraphiQL's dialogs insert `<style>` elements. Images and fonts may be
/// `data:` URLs, which GraphiQL's stylesheet holds its fonts and icons in.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// In the order the page loads them: React, ReactDOM, GraphiQL (which
/// expects the first two as globals), then Linli's start-up script.
const ASSETS: &[Asset] = &[
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "react.production.min.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "linli-graphiql.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../../assets/graphiql/linli-graphiql.js"),
    },
];

fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// `/graphiql/assets/<name>?v=<digest>`: the digest of the content changes
/// the URL whenever the file does, so the files can be cached for a year.
fn asset_url(name: &str) -> String {
    static VERSIONS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let versions = VERSIONS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.bytes);
                let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
                (asset.name, short)
            })
            .collect()
    });
    let version = versions
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    format!("{ASSETS_PATH}/{name}?v={version}")
}

/// Registers the asset route (call it only where GraphiQL is enabled).
pub fn routes(config: &mut web::ServiceConfig) {
    config.route(
        &format!("{ASSETS_PATH}/{{name}}"),
        web::get().to(serve_asset),
    );
}

async fn serve_asset(name: web::Path<String>) -> HttpResponse {
    let Some(asset) = asset(&name) else {
        return HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("没有这个文件");
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .body(asset.bytes)
}

/// GET /graphql without a `query`: the page, or 404 where GraphiQL is off
/// (production).
pub(super) fn graphiql(req: &HttpRequest, shared: &super::Shared) -> HttpResponse {
    if !shared.state.settings.graphiql_enabled() {
        return HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, super::graphql::JSON))
            .body(serde_json::json!({"errors": [{"message": "缺少 query 参数"}]}).to_string());
    }
    page(req, "/graphql", "/graphql/ws")
}

/// The GraphiQL page. GraphiQL's WebSocket client cannot send the headers
/// tab: with `/graphql?wsToken=<accessToken>` its subscriptions (the live
/// ballot tally) send the token in connection_init. Only a JWT's characters
/// pass.
pub fn page(req: &HttpRequest, endpoint: &str, subscription_endpoint: &str) -> HttpResponse {
    let ws_token = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().into_iter().find(|(k, _)| k == "wsToken"))
        .map(|(_, token)| token)
        .filter(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        });
    let mut config = serde_json::json!({
        "endpoint": endpoint,
        "subscriptionEndpoint": subscription_endpoint,
    });
    if let Some(token) = ws_token {
        config["wsConnectionParams"] =
            serde_json::json!({ "Authorization": format!("Bearer {token}") });
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The URL may carry an access token: neither kept nor passed on.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(render(&config))
}

fn render(config: &serde_json::Value) -> String {
    // Inside <script type="application/json"> only "</script" could end the
    // block early; escaping every '<' (valid JSON: it only occurs inside
    // strings) rules that out.
    let config = config.to_string().replace('<', "\\u003c");
    let css = asset_url("graphiql.min.css");
    let scripts: String = [
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "linli-graphiql.js",
    ]
    .iter()
    .map(|name| format!("    <script src=\"{}\"></script>\n", asset_url(name)))
    .collect();
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>邻里 Linli GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{css}">
    <style>
      body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }}
      #graphiql {{ height: 100vh; }}
    </style>
  </head>
  <body>
    <div id="graphiql">正在加载 GraphiQL…</div>
    <script type="application/json" id="linli-graphiql-config">{config}</script>
{scripts}  </body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_this_servers_files() {
        let page = render(&serde_json::json!({"endpoint": "/graphql"}));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{page}"
        );
        assert!(!page.contains("unpkg"));
        for asset in ASSETS {
            assert!(
                page.contains(&asset_url(asset.name)),
                "{} is loaded",
                asset.name
            );
        }
        // Four scripts from files and the JSON block: no inline script,
        // which the policy would refuse.
        assert_eq!(page.matches("<script src=").count(), 4);
        assert_eq!(page.matches("<script").count(), 5);
        assert_eq!(page.matches("<script type=\"application/json\"").count(), 1);
    }

    #[test]
    fn the_config_cannot_close_its_script_block() {
        let page = render(&serde_json::json!({"endpoint": "</script><script>alert(1)</script>"}));
        assert!(!page.contains("</script><script>alert"));
        assert!(page.contains("\\u003c/script>"));
    }

    #[test]
    fn asset_urls_change_with_the_content() {
        let url = asset_url("graphiql.min.js");
        assert!(url.starts_with("/graphiql/assets/graphiql.min.js?v="));
        assert_eq!(url.len(), "/graphiql/assets/graphiql.min.js?v=".len() + 12);
        assert_ne!(url, asset_url("react.production.min.js"));
    }
}
