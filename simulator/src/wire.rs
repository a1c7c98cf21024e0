//! Wire-level helpers shared by the service modules: response bodies, JSON success and error
//! responses, epoch timestamps and opaque paging tokens.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Sleep;

pub(crate) type HttpResponse = Response<Body>;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// Seconds since the Unix epoch, the unit AWS JSON protocols use for timestamps.
pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A response body sent in one piece.
///
/// Normally hyper derives `Content-Length` from the exact size. A *truncated* body reports no
/// size, so the `Content-Length` header set by the caller wins; after the data it lingers briefly
/// so hyper flushes what it has before noticing the body is short and closing the connection.
pub(crate) struct Body {
    data: Option<Bytes>,
    linger: Option<Pin<Box<Sleep>>>,
}

impl Body {
    pub(crate) fn full(data: impl Into<Bytes>) -> Body {
        Body {
            data: Some(data.into()),
            linger: None,
        }
    }

    fn truncated(data: Bytes) -> Body {
        Body {
            data: Some(data),
            linger: Some(Box::pin(tokio::time::sleep(Duration::from_millis(50)))),
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(linger) = self.linger.as_mut() {
            ready!(linger.as_mut().poll(cx));
            self.linger = None;
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.linger.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, &self.linger) {
            (_, Some(_)) => SizeHint::default(),
            (Some(data), None) => SizeHint::with_exact(data.len() as u64),
            (None, None) => SizeHint::with_exact(0),
        }
    }
}

/// A process-unique, UUID-shaped request id, like the ones AWS returns.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("5150a1e0-0000-4000-8000-{n:012x}")
}

fn response(status: StatusCode, content_type: &'static str, body: Body) -> HttpResponse {
    response_with_id(status, content_type, body, &request_id())
}

fn response_with_id(
    status: StatusCode,
    content_type: &'static str,
    body: Body,
    id: &str,
) -> HttpResponse {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID, id);
    }
    response
}

/// Serialises an output shape. Output shapes are plain structs and maps, so this cannot fail.
pub(crate) fn to_json(value: &impl Serialize) -> Bytes {
    serde_json::to_vec(value)
        .expect("output shapes always serialise")
        .into()
}

/// A 200 response carrying a JSON document.
pub(crate) fn json_ok(body: Bytes) -> HttpResponse {
    response(StatusCode::OK, "application/json", Body::full(body))
}

const AMZ_JSON_1_1: &str = "application/x-amz-json-1.1";

/// A 200 response whose `Content-Length` promises twice what is sent before the connection closes.
pub(crate) fn truncated(body: Bytes) -> HttpResponse {
    let promised = body.len().max(1) * 2;
    let sent = body.slice(..body.len() / 2);
    let mut response = response(StatusCode::OK, "application/json", Body::truncated(sent));
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(promised));
    response
}

/// A 200 response that no JSON parser accepts.
pub(crate) fn malformed() -> HttpResponse {
    json_ok(Bytes::from_static(
        b"{\"simulator\": \"malformed response\", [1, 2",
    ))
}

/// The status and code of one modelled error shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ErrorCode {
    pub status: u16,
    pub code: &'static str,
}

impl ErrorCode {
    pub(crate) const fn new(status: u16, code: &'static str) -> ErrorCode {
        ErrorCode { status, code }
    }

    pub(crate) fn with(self, message: impl Into<String>) -> ApiError {
        ApiError {
            code: self,
            message: message.into(),
            retry_after: None,
            members: Vec::new(),
        }
    }
}

/// Sent when a request body is not the JSON the operation expects (smithy's generic client error).
pub(crate) const SERIALIZATION: ErrorCode = ErrorCode::new(400, "SerializationException");
/// Sent for a method and path no simulated service claims.
pub(crate) const UNKNOWN_OPERATION: ErrorCode = ErrorCode::new(404, "UnknownOperationException");

/// A modelled error, rendered according to the service's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Further members of the error shape (e.g. Transfer's `Resource`, `ResourceType`), sent in
    /// the body by awsJson1_1.
    pub members: Vec<(&'static str, String)>,
}

/// How a service frames its responses and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Code in the `x-amzn-ErrorType` header, `{"message": ...}` body.
    RestJson1,
    /// `POST /` with `X-Amz-Target: <Prefix>.<Operation>`, `application/x-amz-json-1.1` both ways;
    /// errors as `{"__type": code, "Message": ..., other members}` in the body only, and
    /// throttling's wait as the `RetryAfterSeconds` member (a string, as the Transfer model has it).
    AwsJson1_1,
    /// awsQuery (STS): `POST /` with a form-encoded body naming the `Action`; XML answers
    /// whose `<RequestId></RequestId>` is filled with the request id, errors as
    /// `<ErrorResponse><Error><Type>Sender|Receiver</Type><Code>..</Code><Message>..</Message>
    /// </Error><RequestId>..</RequestId></ErrorResponse>` with the code's HTTP status.
    AwsQuery,
}

const EMPTY_REQUEST_ID: &str = "<RequestId></RequestId>";

impl Protocol {
    fn content_type(self) -> &'static str {
        match self {
            Protocol::RestJson1 => "application/json",
            Protocol::AwsJson1_1 => AMZ_JSON_1_1,
            Protocol::AwsQuery => "text/xml",
        }
    }

    /// A 200 response carrying an output document.
    pub(crate) fn ok(self, body: Bytes) -> HttpResponse {
        if self == Protocol::AwsQuery {
            let id = request_id();
            let text = String::from_utf8_lossy(&body).replacen(
                EMPTY_REQUEST_ID,
                &format!("<RequestId>{id}</RequestId>"),
                1,
            );
            return response_with_id(StatusCode::OK, self.content_type(), Body::full(text), &id);
        }
        response(StatusCode::OK, self.content_type(), Body::full(body))
    }

    pub(crate) fn error(self, error: &ApiError) -> HttpResponse {
        let status =
            StatusCode::from_u16(error.code.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self == Protocol::AwsQuery {
            let id = request_id();
            let kind = if error.code.status >= 500 {
                "Receiver"
            } else {
                "Sender"
            };
            let body = format!(
                "<ErrorResponse xmlns=\"{}\">\n  <Error>\n    <Type>{kind}</Type>\n    \
                 <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
                 <RequestId>{id}</RequestId>\n</ErrorResponse>\n",
                crate::sts::NAMESPACE,
                xml_escape(error.code.code),
                xml_escape(&error.message),
            );
            return response_with_id(status, self.content_type(), Body::full(body), &id);
        }
        let body = match self {
            Protocol::AwsQuery => unreachable!("rendered above"),
            Protocol::RestJson1 => to_json(&serde_json::json!({ "message": error.message })),
            Protocol::AwsJson1_1 => {
                let mut body = serde_json::Map::new();
                body.insert("__type".into(), error.code.code.into());
                body.insert("Message".into(), error.message.clone().into());
                for (name, value) in &error.members {
                    body.insert((*name).into(), value.clone().into());
                }
                if let Some(seconds) = error.retry_after {
                    body.insert("RetryAfterSeconds".into(), seconds.to_string().into());
                }
                to_json(&body)
            }
        };
        let mut response = response(status, self.content_type(), Body::full(body));
        if self == Protocol::RestJson1 {
            let headers = response.headers_mut();
            headers.insert(ERROR_TYPE, HeaderValue::from_static(error.code.code));
            if let Some(seconds) = error.retry_after {
                headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
            }
        }
        response
    }
}

/// The operation named by an awsJson `X-Amz-Target: <prefix>.<Operation>` header, if the header
/// is there and has this prefix.
pub(crate) fn amz_target<'h>(headers: &'h hyper::HeaderMap, prefix: &str) -> Option<&'h str> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    target.strip_prefix(prefix)?.strip_prefix('.')
}

/// The access key id of a SigV4-signed request: `Authorization: AWS4-HMAC-SHA256
/// Credential=AKID/date/region/service/aws4_request, ...`.
pub(crate) fn access_key_id(headers: &hyper::HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let credential = value.split_once("Credential=")?.1;
    let key = credential.split('/').next()?.trim();
    (!key.is_empty()).then(|| key.to_owned())
}

/// Escapes text for an XML element or attribute.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Unix seconds as ISO 8601 in UTC, `2024-01-01T00:00:00Z`, as awsQuery timestamps are sent.
pub(crate) fn iso8601(epoch: f64) -> String {
    let secs = epoch.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses a JSON request body; an empty body counts as `{}` (operations without input send none).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| SERIALIZATION.with(format!("Unable to parse request body: {e}")))
}

thread_local! {
    /// Set while a call with the `Oversize` fault is handled (handlers run synchronously).
    static OVERSIZE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A page no real listing here reaches, for the `Oversize` fault.
const OVERSIZED_PAGE: usize = 1_000_000;

/// Runs `handle` with page sizes ignored if `on` (the `Oversize` fault).
pub(crate) fn with_oversize<R>(on: bool, handle: impl FnOnce() -> R) -> R {
    OVERSIZE.with(|o| o.set(on));
    let result = handle();
    OVERSIZE.with(|o| o.set(false));
    result
}

/// A validated page size, or a huge one under the `Oversize` fault.
pub(crate) fn oversized(size: usize) -> usize {
    if OVERSIZE.with(|o| o.get()) {
        OVERSIZED_PAGE
    } else {
        size
    }
}

/// Validates `maxResults` (1..=100, default 20), the limits of the restJson1 list operations.
pub(crate) fn page_size(
    max_results: Option<i64>,
    validation: ErrorCode,
) -> Result<usize, ApiError> {
    bounded_page_size(max_results, "maxResults", 100, 20, validation)
}

/// Validates a page-size member named `member` against 1..=`max`; `default` when absent.
pub(crate) fn bounded_page_size(
    max_results: Option<i64>,
    member: &str,
    max: i64,
    default: usize,
    validation: ErrorCode,
) -> Result<usize, ApiError> {
    match max_results {
        None => Ok(oversized(default)),
        Some(n) if (1..=max).contains(&n) => Ok(oversized(n as usize)),
        Some(n) => Err(validation.with(format!(
            "1 validation error detected: Value '{n}' at '{member}' failed to satisfy constraint: \
             Member must have value between 1 and {max}"
        ))),
    }
}

/// FNV-1a: a checksum so garbled or foreign tokens are rejected rather than misread.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for byte in parts.iter().flat_map(|p| p.iter().chain(b"\0")) {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// An opaque paging token carrying `key`, the position after which the next page starts.
///
/// Tokens hold a key rather than an offset so they stay meaningful while the list changes
/// between pages. `scope` (operation plus any parent resource) is folded into the checksum, so
/// a token is only accepted where it was issued.
pub(crate) fn encode_token(scope: &str, key: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    let sum = fnv1a(&[scope.as_bytes(), key.as_bytes()]);
    format!("v1.{hex}.{sum:016x}")
}

/// The key inside a token from [`encode_token`] with the same `scope`, or `None` if it is not one.
pub(crate) fn decode_token(scope: &str, token: &str) -> Option<String> {
    let rest = token.strip_prefix("v1.")?;
    let (hex, sum) = rest.split_once('.')?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let key = String::from_utf8(bytes).ok()?;
    let expected = format!("{:016x}", fnv1a(&[scope.as_bytes(), key.as_bytes()]));
    (sum == expected).then_some(key)
}

/// Decodes `%XX` escapes (a path segment or query value as restJson1 clients send them); `None`
/// for a broken escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The decoded `name=value` pairs of a query string, in order (repeated names repeat, as list
/// parameters are sent); `None` when an escape is broken.
pub(crate) fn query_pairs(query: Option<&str>) -> Option<Vec<(String, String)>> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_within_their_scope() {
        for key in ["", "flow-a", "ünïcödé/|.x", "0000000000000000abc"] {
            let token = encode_token("ListFlows", key);
            assert!(token.chars().all(|c| c.is_ascii_graphic()), "{token}");
            assert_eq!(decode_token("ListFlows", &token).as_deref(), Some(key));
            assert_eq!(decode_token("Other", &token), None);
        }
    }

    #[test]
    fn garbled_tokens_are_rejected() {
        let token = encode_token("s", "flow-a");
        for bad in [
            "",
            "garbage",
            "v1.",
            "v1..",
            &token[..token.len() - 1],
            &token.replace("v1.", "v2."),
            &format!("v1.00{}", &token[3..]),
            "v1.zz.0000000000000000",
            "v1.é.0000000000000000",
        ] {
            assert_eq!(decode_token("s", bad), None, "{bad:?}");
        }
    }

    #[test]
    fn page_size_defaults_and_bounds() {
        let v = ErrorCode::new(400, "ValidationException");
        assert_eq!(page_size(None, v), Ok(20));
        assert_eq!(page_size(Some(1), v), Ok(1));
        assert_eq!(page_size(Some(100), v), Ok(100));
        for bad in [0, 101, -5] {
            assert_eq!(page_size(Some(bad), v).unwrap_err().code, v);
        }
    }

    #[test]
    fn empty_body_parses_as_empty_object() {
        let v: serde_json::Value = parse_json(b" \n").unwrap();
        assert_eq!(v, serde_json::json!({}));
        let e = parse_json::<serde_json::Value>(b"{nope").unwrap_err();
        assert_eq!(e.code, SERIALIZATION);
    }

    #[test]
    fn rest_json_errors_carry_code_header_and_message() {
        let mut error = ErrorCode::new(429, "ThrottlingException").with("slow down");
        error.retry_after = Some(3);
        let response = Protocol::RestJson1.error(&error);
        assert_eq!(response.status(), 429);
        let headers = response.headers();
        assert_eq!(headers["x-amzn-errortype"], "ThrottlingException");
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(headers["content-type"], "application/json");
        assert!(headers.contains_key("x-amzn-requestid"));
    }

    #[tokio::test]
    async fn aws_json_errors_carry_type_and_members_in_the_body() {
        use http_body_util::BodyExt;
        let mut error = ErrorCode::new(400, "ThrottlingException").with("slow down");
        error.retry_after = Some(3);
        error.members.push(("Resource", "w-1".into()));
        let response = Protocol::AwsJson1_1.error(&error);
        assert_eq!(response.status(), 400);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
        assert!(!headers.contains_key("x-amzn-errortype"));
        assert!(!headers.contains_key("retry-after"));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "__type": "ThrottlingException", "Message": "slow down",
                "Resource": "w-1", "RetryAfterSeconds": "3",
            })
        );
    }

    #[test]
    fn iso8601_and_xml_escapes() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400.5), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_735_689_599.0), "2024-12-31T23:59:59Z");
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }

    #[test]
    fn access_key_ids_come_from_the_sigv4_credential() {
        let mut headers = hyper::HeaderMap::new();
        assert_eq!(access_key_id(&headers), None);
        headers.insert(
            "Authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=ASIAX/20240101/us-east-1/sts/aws4_request, \
                 SignedHeaders=host, Signature=abc",
            ),
        );
        assert_eq!(access_key_id(&headers).as_deref(), Some("ASIAX"));
    }

    #[test]
    fn amz_target_needs_the_prefix() {
        let mut headers = hyper::HeaderMap::new();
        assert_eq!(amz_target(&headers, "TransferService"), None);
        headers.insert(
            "X-Amz-Target",
            HeaderValue::from_static("TransferService.ListWorkflows"),
        );
        assert_eq!(
            amz_target(&headers, "TransferService"),
            Some("ListWorkflows")
        );
        assert_eq!(amz_target(&headers, "Transfer"), None);
        assert_eq!(amz_target(&headers, "OtherService"), None);
    }

    #[test]
    fn bounded_page_size_names_the_member() {
        let v = ErrorCode::new(400, "InvalidRequestException");
        assert_eq!(bounded_page_size(None, "MaxResults", 1000, 100, v), Ok(100));
        assert_eq!(
            bounded_page_size(Some(1000), "MaxResults", 1000, 100, v),
            Ok(1000)
        );
        let e = bounded_page_size(Some(1001), "MaxResults", 1000, 100, v).unwrap_err();
        assert!(e.message.contains("'MaxResults'") && e.message.contains("1000"));
    }

    #[test]
    fn percent_escapes_and_query_pairs_decode() {
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(
            query_pairs(Some("a=1&b=x%3Dy&a=2&flag")),
            Some(vec![
                ("a".into(), "1".into()),
                ("b".into(), "x=y".into()),
                ("a".into(), "2".into()),
                ("flag".into(), "".into()),
            ])
        );
        assert_eq!(query_pairs(None), Some(vec![]));
    }
}
