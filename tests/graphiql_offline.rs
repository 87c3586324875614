//! GraphiQL works without the internet: headless Chromium, with every
//! outside host made unresolvable and any other traffic sent to a dead
//! proxy, opens `GET /graphql` and must find the editor rendered. A page
//! that loaded anything from a CDN would stay at its loading text.
//! Needs Chromium (Debian's `chromium`; `.ci/run` installs it); without it
//! the test says SKIPPED, and `.ci/run` fails on that line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use linli::{Backend, spawn_app};

/// Where the screenshot and the dumped page are left for a person to look at.
fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("test-output").join("graphiql_offline")
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs headless Chromium on `url` with the network cut off but for the
/// loopback: `mode` is the output flag (`--dump-dom` or `--screenshot=…`).
/// Returns stdout and stderr.
async fn chromium(binary: &Path, profile: &Path, mode: &str, url: &str) -> (String, String) {
    let run = tokio::process::Command::new(binary)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            // No outside host resolves; whatever would still go out goes
            // to a proxy that is not there (loopback is never proxied).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,800",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("Chromium finishes within two minutes")
        .expect("Chromium starts");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_renders_offline_in_headless_chromium() {
    let Some(binary) = find_chromium() else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: graphiql_renders_offline_in_headless_chromium (chromium is not installed: apt-get install chromium)"
        );
        return;
    };
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite app");
    let out = output_dir();
    std::fs::create_dir_all(&out).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let url = app.graphql_url();

    let (dom, log) = chromium(&binary, profile.path(), "--dump-dom", &url).await;
    std::fs::write(out.join("graphiql.html"), &dom).unwrap();
    std::fs::write(out.join("chromium-dom.log"), &log).unwrap();
    assert!(
        dom.contains("graphiql-container"),
        "GraphiQL did not render (page left in {}):\n{dom}\n{log}",
        out.display()
    );
    // The query editor (CodeMirror) is there and the loading text is gone.
    assert!(dom.contains("CodeMirror"), "no editor:\n{dom}");
    assert!(
        dom.contains("graphiql-query-editor"),
        "no query editor:\n{dom}"
    );
    assert!(!dom.contains("正在加载 GraphiQL"), "still loading:\n{dom}");
    // Nothing the page needs was refused by its own policy.
    assert!(
        !log.contains("Content Security Policy"),
        "a CSP violation:\n{log}"
    );

    let screenshot = out.join("graphiql.png");
    let _ = std::fs::remove_file(&screenshot);
    let (_, log) = chromium(
        &binary,
        profile.path(),
        &format!("--screenshot={}", screenshot.display()),
        &url,
    )
    .await;
    std::fs::write(out.join("chromium-screenshot.log"), &log).unwrap();
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|err| panic!("no screenshot at {}: {err}\n{log}", screenshot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    println!("GraphiQL screenshot: {}", screenshot.display());
}
