//! One HTTP/1.1 request to a registry endpoint over plain TCP or rustls, honouring the
//! endpoint's `tls` settings from `registries.yaml` (extra CA, client certificate,
//! `insecure_skip_verify`). A connection per request keeps it simple; pulls are dominated
//! by blob bytes, not handshakes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::registries::TlsConfig;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `method` `url` with `headers` and `body`; returns the response with a streaming body.
pub async fn send(
    method: http::Method,
    url: &str,
    headers: &[(http::header::HeaderName, String)],
    body: Bytes,
    tls: Option<&TlsConfig>,
) -> Result<http::Response<Incoming>, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("invalid URL {url}: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("unsupported URL {url}")),
    };
    let host = uri.host().ok_or_else(|| format!("URL {url} has no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| format!("timed out connecting to {host}:{port}"))?
    .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, authority)
        .header(
            http::header::USER_AGENT,
            concat!("bramble/", env!("CARGO_PKG_VERSION")),
        );
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let request = builder
        .body(Full::new(body))
        .map_err(|e| format!("cannot build request for {url}: {e}"))?;
    let fut = async {
        if https {
            let config = client_config(tls)?;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| format!("invalid TLS name {host}: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
            exchange(TokioIo::new(stream), request).await
        } else {
            exchange(TokioIo::new(tcp), request).await
        }
    };
    tokio::time::timeout(RESPONSE_TIMEOUT, fut)
        .await
        .map_err(|_| format!("timed out waiting for {url}"))?
}

async fn exchange<T>(
    io: T,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    // The connection task ends when the response body has been read or dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))
}

fn client_config(tls: Option<&TlsConfig>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if tls.is_some_and(|t| t.insecure_skip_verify) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(ca) = tls.and_then(|t| t.ca_file.as_ref()) {
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("cannot read ca_file {}: {e}", ca.display()))?
            {
                let cert = cert.map_err(|e| format!("invalid ca_file {}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("invalid ca_file {}: {e}", ca.display()))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    match tls.and_then(|t| Some((t.cert_file.as_ref()?, t.key_file.as_ref()?))) {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read cert_file {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read key_file {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("invalid client certificate: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// `insecure_skip_verify: true`: the user asked to trust any certificate for this host.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
