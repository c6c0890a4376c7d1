//! Reading request bodies: every endpoint's body goes through one of these, so the same
//! mistake gets the same answer everywhere (`400` for a body that cannot be read, `413`
//! for too many records, `422` naming the field at fault).

use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::error::ApiError;

/// The body as text, or a `400` naming the first byte that is not UTF-8.
pub(crate) fn utf8(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })
}

/// Why [`bounded_array`] refused a body.
pub(crate) enum Bounded {
    /// More than the allowed number of elements (at least this many).
    TooMany(usize),
    /// Not a JSON array.
    Invalid(serde_json::Error),
}

/// The elements of a JSON array as raw text, refusing more than `max` of them as soon as
/// the count is passed: no element is built into a JSON tree before the count is known,
/// so memory stays a small multiple of the body however many tiny elements it holds.
pub(crate) fn bounded_array(text: &str, max: usize) -> Result<Vec<&RawValue>, Bounded> {
    use serde::de::{DeserializeSeed, SeqAccess, Visitor};
    struct Seed<'c> {
        max: usize,
        over: &'c std::cell::Cell<bool>,
    }
    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element::<&'de RawValue>()? {
                if out.len() == self.max {
                    self.over.set(true);
                    return Err(serde::de::Error::custom("too many elements"));
                }
                out.push(v);
            }
            Ok(out)
        }
    }
    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = Vec<&'de RawValue>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }
    let over = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let r = Seed { max, over: &over }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match r {
        Ok(v) => Ok(v),
        Err(_) if over.get() => Err(Bounded::TooMany(max + 1)),
        Err(e) => Err(Bounded::Invalid(e)),
    }
}

/// The body as JSON; a `400` for a body that is empty or not UTF-8 JSON.
pub(crate) fn json(body: &[u8]) -> Result<Value, ApiError> {
    let text = utf8(body)?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("the body is empty"));
    }
    serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

/// A management request's JSON body: an empty body reads as `{}`; anything else that is
/// not JSON is a 400, never read as "every field missing".
pub(crate) fn json_object(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}
