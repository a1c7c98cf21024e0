//! The HTTP side: `/metrics` (or the telemetry path), `/`, `/healthz`,
//! `/readyz`. Scrapes never touch AWS: they read the [`Store`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use tokio::net::TcpListener;

use crate::exposition::body::{ScrapeBody, Turns};
use crate::self_metrics::ExporterMetrics;
use crate::store::Store;
use crate::web_config::LiveWebConfig;

const EXPOSITION_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// A client that has not sent its headers by then is cut off.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight scrapes may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What the server serves.
pub struct Site {
    pub telemetry_path: String,
    pub store: Arc<Store>,
    /// The exporter's own series, rendered in the background, sent after the AWS part.
    pub exporter: Arc<ExporterMetrics>,
    /// Plain scrapes that inflate take turns.
    pub turns: Turns,
    /// The landing page, rendered once at start.
    pub index_html: String,
    /// `--web.enable-lifecycle`: what `POST /-/reload` reloads.
    pub lifecycle: Option<Arc<dyn Lifecycle>>,
    /// `--web.config.file`: TLS and basic auth.
    pub web: Option<Arc<LiveWebConfig>>,
}

/// What `POST /-/reload` asks for: the configuration read again and in
/// force, or the reason it is not.
pub trait Lifecycle: Send + Sync {
    fn reload(&self) -> futures::future::BoxFuture<'_, Result<(), String>>;
}

/// Serves until `shutdown` completes, then lets open requests finish.
pub async fn serve(listener: TcpListener, site: Arc<Site>, shutdown: impl Future<Output = ()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors, typically: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                tokio::spawn(connection(stream, site.clone(), graceful.watcher()));
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
}

/// One client connection: the TLS handshake when configured, then HTTP/1.1.
async fn connection(stream: tokio::net::TcpStream, site: Arc<Site>, watcher: Watcher) {
    // A response's last segment goes out at once, not when the client has
    // acknowledged the previous ones (Nagle): nginx does the same.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let tls = site.web.as_ref().and_then(|w| w.current().tls.clone());
    let service_site = site.clone();
    let service = hyper::service::service_fn(move |req| {
        let site = service_site.clone();
        async move { Ok::<_, Infallible>(handle(&site, &req).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let result = match tls {
        None => {
            watcher
                .watch(http.serve_connection(TokioIo::new(stream), service))
                .await
        }
        Some(acceptor) => {
            let stream =
                match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                };
            watcher
                .watch(http.serve_connection(TokioIo::new(stream), service))
                .await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Routes one request; every path and method has an answer. Basic auth, when
/// configured, guards everything but the health probes, which reveal nothing.
pub async fn handle(site: &Site, req: &Request<Incoming>) -> Response<ScrapeBody> {
    let mut response = answer(site, req).await;
    // `http_server_config.headers`: on every response, as the toolkit does.
    if let Some(web) = &site.web {
        let headers = response.headers_mut();
        for (name, value) in web.current().headers() {
            headers.insert(name.clone(), value.clone());
        }
    }
    response
}

async fn answer(site: &Site, req: &Request<Incoming>) -> Response<ScrapeBody> {
    let path = req.uri().path();
    if let Some(web) = &site.web {
        let probe = matches!(path, "/healthz" | "/readyz");
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !probe && !web.current().authorized(header) {
            let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"aws-flow-exporter\""),
            );
            return response;
        }
    }
    route(site, req.method(), path, req.headers()).await
}

async fn route(
    site: &Site,
    method: &Method,
    path: &str,
    headers: &hyper::HeaderMap,
) -> Response<ScrapeBody> {
    if path == "/-/reload" {
        return reload(site, method).await;
    }
    let known = path == site.telemetry_path || matches!(path, "/" | "/healthz" | "/readyz");
    if !known {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == site.telemetry_path {
        return metrics(site, headers).await;
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if site.store.ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "first collection not finished\n",
        ),
        _ => {
            let mut response = Response::new(ScrapeBody::bytes(site.index_html.clone()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
    }
}

async fn metrics(site: &Site, headers: &hyper::HeaderMap) -> Response<ScrapeBody> {
    // The exporter's own series as last rendered (in the background), and
    // their gzip form made once per rendering. Taken before the AWS part: a
    // collection publishes before its end is recorded, so a scrape that shows
    // the end shows what the collection published.
    let rendered = site.exporter.rendered();
    let prepared = site.store.current();
    let gzipped = accepts_gzip(headers);
    let body = if gzipped {
        prepared.gzip_with(&prepared.tail(&rendered.parts))
    } else {
        site.turns.plain_with(&prepared, &rendered.parts).await
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EXPOSITION_TYPE),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// `POST /-/reload`: 403 without `--web.enable-lifecycle` (a scraper must
/// not reload), else 200 once the new files are in force, 500 with the reason.
async fn reload(site: &Site, method: &Method) -> Response<ScrapeBody> {
    let Some(lifecycle) = &site.lifecycle else {
        return text(
            StatusCode::FORBIDDEN,
            "lifecycle API is not enabled (--web.enable-lifecycle)\n",
        );
    };
    if method != Method::POST && method != Method::PUT {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST, PUT"));
        return response;
    }
    let mut failures = Vec::new();
    if let Err(reason) = lifecycle.reload().await {
        failures.push(reason);
    }
    if let Some(web) = &site.web {
        if !web.reload() {
            failures.push("the web configuration does not validate (see the log)".to_string());
        }
    }
    if failures.is_empty() {
        return text(StatusCode::OK, "configuration reloaded\n");
    }
    let mut response = Response::new(ScrapeBody::bytes(format!("{}\n", failures.join("; "))));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `Accept-Encoding` names gzip (or `*`) with a non-zero quality.
fn accepts_gzip(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let zero_quality = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero_quality
        })
}

fn text(status: StatusCode, body: &'static str) -> Response<ScrapeBody> {
    let mut response = Response::new(ScrapeBody::bytes(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The landing page: version, targets (regions and labels only), a link to the metrics.
pub fn index_html(telemetry_path: &str, targets: &[(String, Vec<(String, String)>)]) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut rows = String::new();
    for (region, labels) in targets {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>\n",
            escape(region),
            escape(&labels.join(", "))
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>AWS Flow Exporter</title></head>\n\
         <body><h1>AWS Flow Exporter</h1>\n<p>Version {}</p>\n\
         <p><a href=\"{}\">Metrics</a></p>\n\
         <table><tr><th>Region</th><th>Labels</th></tr>\n{}</table>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(telemetry_path),
        rows
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Exposition, Family, Kind};
    use std::io::Read;

    static FLOWS: Family = Family {
        name: "x_flows",
        help: "Flows.",
        kind: Kind::Gauge,
        labels: &[],
    };

    fn site() -> Site {
        Site {
            telemetry_path: "/metrics".into(),
            store: Arc::new(Store::default()),
            exporter: Arc::new(ExporterMetrics::new(Vec::new()).unwrap()),
            turns: Turns::default(),
            index_html: String::new(),
            lifecycle: None,
            web: None,
        }
    }

    async fn scrape(site: &Site, gzip: bool) -> String {
        let accept = if gzip { "gzip" } else { "identity" };
        let response = metrics(site, &headers(accept)).await;
        let encoded = response.headers().get(header::CONTENT_ENCODING).is_some();
        assert_eq!(encoded, gzip);
        let body = response.into_body().collect().unwrap();
        let mut text = String::new();
        if gzip {
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text = String::from_utf8(body).unwrap();
        }
        text
    }

    async fn publish(site: &Site, flows: f64) {
        let mut e = Exposition::new(&[("region".into(), "r".into())]);
        e.sample(&FLOWS, &[], flows);
        site.store.publish(("t".into(), "appflow"), e).await;
    }

    #[tokio::test]
    async fn scrapes_follow_publishes_and_changes_of_the_own_series() {
        let site = site();
        publish(&site, 1.0).await;
        let first = scrape(&site, true).await;
        assert!(first.contains("x_flows{region=\"r\"} 1\n"), "{first}");
        assert!(first.contains("aws_flow_exporter_build_info"), "{first}");
        assert_eq!(scrape(&site, false).await, first);
        // A publish: the next scrape has it, the cached own series after it.
        publish(&site, 2.0).await;
        let second = scrape(&site, true).await;
        assert!(second.contains("x_flows{region=\"r\"} 2\n"), "{second}");
        assert!(second.contains("aws_flow_exporter_build_info"), "{second}");
        // A change of the exporter's own series: in the scrapes once rendered.
        let renderer = tokio::spawn(site.exporter.clone().keep_rendered());
        let labels = Default::default();
        let service = site.exporter.for_service("appflow", "r", &labels);
        service.set_tracked(7);
        service.shown().await;
        let third = scrape(&site, true).await;
        assert!(
            third.contains(
                "aws_flow_exporter_executions_tracked{aws_service=\"appflow\",region=\"r\"} 7\n"
            ),
            "{third}"
        );
        assert!(third.contains("x_flows{region=\"r\"} 2\n"));
        assert_eq!(scrape(&site, false).await, third);
        renderer.abort();
    }

    fn headers(accept: &str) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        h
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&hyper::HeaderMap::new()));
    }

    #[test]
    fn index_escapes_labels() {
        let html = index_html(
            "/metrics",
            &[("eu-west-1".into(), vec![("team".into(), "<b>".into())])],
        );
        assert!(html.contains("team=&lt;b&gt;"));
        assert!(html.contains("href=\"/metrics\""));
    }
}
