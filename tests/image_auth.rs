//! Registry authentication and verification against an in-process mock registry: bearer
//! tokens from a `401` challenge with credentials from an image pull secret or from
//! `registries.yaml`, basic auth, blob redirects, the registry's reason on refusal, and a
//! corrupt blob that must leave nothing in the store. Runs as root (layer ownership).

use std::convert::Infallible;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use bramble::kubelet::image::store::sha256_digest;
use bramble::kubelet::image::{ImageService, PullPolicy, RegistryConfig};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret";
const TOKEN: &str = "good-token";

/// A one-layer image built in memory, served as Docker schema2.
struct Image {
    manifest: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
}

fn image() -> Image {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "hello", &b"world"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = sha256_digest(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/hello"]}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": sha256_digest(&layer), "size": layer.len()}]}))
    .unwrap();
    Image {
        manifest,
        config,
        layer,
    }
}

fn reply(status: StatusCode, headers: &[(&str, String)], body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.body(Full::new(Bytes::from(body))).unwrap()
}

fn error_body(code: &str, message: &str) -> Vec<u8> {
    format!(r#"{{"errors":[{{"code":"{code}","message":"{message}"}}]}}"#).into_bytes()
}

/// Repositories: `app/x` (bearer), `basic/x` (basic auth), `app/corrupt` (bearer, layer
/// bytes tampered with). Blobs answer with a redirect to `/storage/<hex>`.
async fn handle(
    req: Request<hyper::body::Incoming>,
    img: Arc<Image>,
    port: u16,
    scheme: &'static str,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if path == "/token" {
        let query = req.uri().query().unwrap_or("");
        assert!(query.contains("service=mock"), "{query}");
        if auth != basic {
            return Ok(reply(
                StatusCode::UNAUTHORIZED,
                &[],
                error_body("UNAUTHORIZED", "incorrect username or password"),
            ));
        }
        return Ok(reply(
            StatusCode::OK,
            &[],
            format!(r#"{{"token":"{TOKEN}"}}"#).into_bytes(),
        ));
    }
    if let Some(hex) = path.strip_prefix("/storage/") {
        let digest = format!("sha256:{hex}");
        let tamper = req.uri().query() == Some("corrupt");
        for blob in [&img.config, &img.layer] {
            if sha256_digest(blob) == digest {
                let mut b = blob.clone();
                if tamper && std::ptr::eq(blob, &img.layer) {
                    b[20] ^= 0xff;
                }
                return Ok(reply(StatusCode::OK, &[], b));
            }
        }
        return Ok(reply(
            StatusCode::NOT_FOUND,
            &[],
            error_body("BLOB_UNKNOWN", "blob unknown to registry"),
        ));
    }
    let basic_repo = path.starts_with("/v2/basic/");
    let authorized = if basic_repo {
        auth == basic
    } else {
        auth == format!("Bearer {TOKEN}")
    };
    if !authorized {
        let challenge = if basic_repo {
            r#"Basic realm="mock""#.to_string()
        } else {
            format!(
                r#"Bearer realm="{scheme}://127.0.0.1:{port}/token",service="mock",scope="repository:app/x:pull""#
            )
        };
        return Ok(reply(
            StatusCode::UNAUTHORIZED,
            &[("www-authenticate", challenge)],
            error_body("UNAUTHORIZED", "authentication required"),
        ));
    }
    if path.contains("/manifests/") {
        if !path.ends_with("/v1") {
            return Ok(reply(
                StatusCode::NOT_FOUND,
                &[],
                error_body("MANIFEST_UNKNOWN", "manifest unknown"),
            ));
        }
        let ct = "application/vnd.docker.distribution.manifest.v2+json".to_string();
        return Ok(reply(
            StatusCode::OK,
            &[("content-type", ct)],
            img.manifest.clone(),
        ));
    }
    if let Some((_, digest)) = path.split_once("/blobs/") {
        let corrupt = if path.contains("/corrupt/") {
            "?corrupt"
        } else {
            ""
        };
        // Same-host redirect, as registries backed by a blob store answer.
        let location = format!("/storage/{}{corrupt}", &digest[7..]);
        return Ok(reply(
            StatusCode::TEMPORARY_REDIRECT,
            &[("location", location)],
            Vec::new(),
        ));
    }
    Ok(reply(StatusCode::NOT_FOUND, &[], Vec::new()))
}

/// Starts the mock registry on a free port (over TLS with `tls`); it stops with the test's
/// runtime.
async fn mock_registry_with(tls: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let img = Arc::new(image());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let img = img.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let scheme = if tls.is_some() { "https" } else { "http" };
                let svc =
                    hyper::service::service_fn(move |req| handle(req, img.clone(), port, scheme));
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    port
}

async fn mock_registry() -> u16 {
    mock_registry_with(None).await
}

/// A CA (PEM written to `ca_file`) and a server certificate for 127.0.0.1 signed by it.
fn tls_acceptor(ca_file: &Path) -> tokio_rustls::TlsAcceptor {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(ca_file, ca.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn service(data: &Path, port: u16, configs: &str) -> ImageService {
    let yaml = format!(
        "mirrors:\n  \"127.0.0.1:{port}\":\n    endpoint: [\"http://127.0.0.1:{port}\"]\n{configs}"
    );
    ImageService::new(data, RegistryConfig::parse(&yaml).unwrap()).unwrap()
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "tests/image_auth.rs must run as root (layer ownership)"
    );
}

#[tokio::test]
async fn bearer_token_with_pull_secret_and_redirected_blobs() {
    require_root();
    let port = mock_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), port, "");
    let image = format!("127.0.0.1:{port}/app/x:v1");

    let e = svc
        .ensure_image(&image, PullPolicy::IfNotPresent, &[])
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "ErrImagePull");
    assert!(
        e.to_string()
            .contains("401 Unauthorized: incorrect username or password"),
        "{e}"
    );

    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let secret = format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"{auth}"}}}}}}"#).into_bytes();
    let info = svc
        .ensure_image(&image, PullPolicy::IfNotPresent, &[secret])
        .await
        .unwrap();
    assert_eq!(
        info.config.entrypoint.as_deref(),
        Some(&["/hello".to_string()][..])
    );
    assert_eq!(
        std::fs::read(info.layers[0].join("hello")).unwrap(),
        b"world"
    );

    let e = svc
        .ensure_image(
            &format!("127.0.0.1:{port}/app/x:v2"),
            PullPolicy::Always,
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("404 Not Found: manifest unknown"),
        "{e}"
    );
}

#[tokio::test]
async fn credentials_from_registries_yaml_and_basic_auth() {
    require_root();
    let port = mock_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let configs = format!("configs:\n  \"127.0.0.1:{port}\":\n    auth:\n      username: {USER}\n      password: {PASSWORD}\n");
    let svc = service(dir.path(), port, &configs);
    svc.ensure_image(
        &format!("127.0.0.1:{port}/app/x:v1"),
        PullPolicy::Always,
        &[],
    )
    .await
    .unwrap();
    let info = svc
        .ensure_image(
            &format!("127.0.0.1:{port}/basic/x:v1"),
            PullPolicy::Always,
            &[],
        )
        .await
        .unwrap();
    assert!(info.layers[0].join("hello").is_file());

    let svc = service(&dir.path().join("no-creds"), port, "");
    let e = svc
        .ensure_image(
            &format!("127.0.0.1:{port}/basic/x:v1"),
            PullPolicy::Always,
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("401 Unauthorized: authentication required"),
        "{e}"
    );
}

#[tokio::test]
async fn corrupt_blob_is_rejected_and_leaves_nothing() {
    require_root();
    let port = mock_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let configs = format!(
        "configs:\n  \"127.0.0.1:{port}\":\n    auth: {{username: {USER}, password: {PASSWORD}}}\n"
    );
    let svc = service(dir.path(), port, &configs);
    let e = svc
        .ensure_image(
            &format!("127.0.0.1:{port}/app/corrupt:v1"),
            PullPolicy::Always,
            &[],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    let img = image();
    assert!(!svc.store().has_blob(&sha256_digest(&img.layer)));
    assert_eq!(
        std::fs::read_dir(dir.path().join("images/tmp"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("images/layers"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn https_registry_with_ca_file_or_insecure_skip_verify() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let port = mock_registry_with(Some(tls_acceptor(&ca))).await;
    let image = format!("127.0.0.1:{port}/app/x:v1");
    let auth = format!("    auth: {{username: {USER}, password: {PASSWORD}}}\n");
    let registries = |tls: &str| {
        let yaml = format!("configs:\n  \"127.0.0.1:{port}\":\n{auth}{tls}");
        RegistryConfig::parse(&yaml).unwrap()
    };

    // No mirror: the registry's own https endpoint, which web PKI roots do not trust.
    let svc = ImageService::new(&dir.path().join("a"), registries("")).unwrap();
    let e = svc
        .ensure_image(&image, PullPolicy::Always, &[])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("TLS handshake"), "{e}");

    let tls = format!("    tls:\n      ca_file: {}\n", ca.display());
    let svc = ImageService::new(&dir.path().join("b"), registries(&tls)).unwrap();
    let info = svc
        .ensure_image(&image, PullPolicy::Always, &[])
        .await
        .unwrap();
    assert!(info.layers[0].join("hello").is_file());

    let svc = ImageService::new(
        &dir.path().join("c"),
        registries("    tls: {insecure_skip_verify: true}\n"),
    )
    .unwrap();
    svc.ensure_image(&image, PullPolicy::Always, &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_mirror_is_skipped_and_rewrite_applies() {
    require_root();
    let port = mock_registry().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:{closed}\", \"http://127.0.0.1:{port}\"]\n    \
         rewrite:\n      \"^library/(.*)$\": \"app/$1\"\n\
         configs:\n  \"127.0.0.1:{port}\":\n    auth: {{username: {USER}, password: {PASSWORD}}}\n"
    );
    let svc = ImageService::new(dir.path(), RegistryConfig::parse(&yaml).unwrap()).unwrap();
    // docker.io/library/x:v1 is served by the second mirror as app/x:v1.
    let info = svc
        .ensure_image("x:v1", PullPolicy::Always, &[])
        .await
        .unwrap();
    assert_eq!(info.reference, "docker.io/library/x:v1");
    assert!(info.layers[0].join("hello").is_file());
}
