use std::fmt;

use serde_json::{Map, Value};

/// The contract's error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Timeout,
    Conflict,
    PreconditionFailed,
    RateLimitExceeded,
    Internal,
    ServiceUnavailable,
    Other(String),
}

impl ErrorCode {
    fn parse(code: &str) -> ErrorCode {
        match code {
            "invalid_request" => ErrorCode::InvalidRequest,
            "unauthorized" => ErrorCode::Unauthorized,
            "forbidden" => ErrorCode::Forbidden,
            "not_found" => ErrorCode::NotFound,
            "timeout" => ErrorCode::Timeout,
            "conflict" => ErrorCode::Conflict,
            "precondition_failed" => ErrorCode::PreconditionFailed,
            "rate_limit_exceeded" => ErrorCode::RateLimitExceeded,
            "internal_error" => ErrorCode::Internal,
            "service_unavailable" => ErrorCode::ServiceUnavailable,
            other => ErrorCode::Other(other.to_string()),
        }
    }
}

/// An error answer of the API: code, message, details and HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    /// The code as the server wrote it.
    pub code_name: String,
    pub message: String,
    pub details: Map<String, Value>,
    /// The HTTP status; 0 for the final event of a stream.
    pub status: u16,
}

impl ApiError {
    /// The request field the error is about, when it names one.
    pub fn field(&self) -> Option<&str> {
        self.details.get("field").and_then(Value::as_str)
    }

    /// details.retry_after of a rate_limit_exceeded, in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        self.details.get("retry_after").and_then(Value::as_u64)
    }

    /// The error of an answer with status and body; a body that is not the
    /// contract's envelope is an internal_error.
    pub(crate) fn from_body(status: u16, body: &[u8]) -> ApiError {
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(serde::Deserialize)]
        struct Inner {
            code: String,
            #[serde(default)]
            message: String,
            #[serde(default)]
            details: Option<Map<String, Value>>,
        }
        match serde_json::from_slice::<Envelope>(body) {
            Ok(e) => ApiError {
                code: ErrorCode::parse(&e.error.code),
                code_name: e.error.code,
                message: e.error.message,
                details: e.error.details.unwrap_or_default(),
                status,
            },
            Err(_) => ApiError {
                code: ErrorCode::Internal,
                code_name: "internal_error".into(),
                message: format!("HTTP {status} without an error envelope"),
                details: Map::new(),
                status,
            },
        }
    }
}

/// Everything a call can fail with.
#[derive(Debug, Clone)]
pub enum Error {
    /// The server answered with an error.
    Api(ApiError),
    /// The server could not be reached, or the connection broke.
    Connection(String),
    /// An answer that is not what the API documents.
    Decode(String),
    /// The client could not be built (bad base URL, TLS setup).
    Config(String),
    /// A local file could not be read or written (uploads, downloads).
    Io(String),
}

impl Error {
    /// The API error, if the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The contract's code of an API error.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.api().map(|e| &e.code)
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => match e.field() {
                Some(field) => write!(f, "neuais: {} ({}): {} [field {}]", e.code_name, e.status, e.message, field),
                None => write!(f, "neuais: {} ({}): {}", e.code_name, e.status, e.message),
            },
            Error::Connection(m) => write!(f, "neuais: connection: {m}"),
            Error::Decode(m) => write!(f, "neuais: decode: {m}"),
            Error::Config(m) => write!(f, "neuais: {m}"),
            Error::Io(m) => write!(f, "neuais: {m}"),
        }
    }
}

impl std::error::Error for Error {}
