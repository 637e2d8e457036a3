//! The parts of a Stripe event roomctl acts on, read from the raw JSON.
//!
//! Only a handful of fields matter, so they are read directly instead of
//! through fully typed API objects: a new field or API version never makes
//! an authentic event unreadable.

pub use crate::db::model::SubStatus;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// What a NUL (U+0000) in any string of an event becomes: PostgreSQL's
/// `text` and `jsonb` cannot hold U+0000, so an event keeping one could
/// never be stored and Stripe would retry it for days. U+FFFD, the
/// replacement character, shows where the NUL was.
pub const NUL_REPLACEMENT: &str = "\u{FFFD}";

/// `s` with every NUL replaced by [`NUL_REPLACEMENT`].
pub fn scrubbed(s: &str) -> String {
    s.replace('\0', NUL_REPLACEMENT)
}

fn scrub_str(s: &mut String) {
    if s.contains('\0') {
        *s = scrubbed(s);
    }
}

/// Replaces every NUL in the strings and keys of `v`.
fn scrub(v: &mut Value) {
    match v {
        Value::String(s) => scrub_str(s),
        Value::Array(a) => a.iter_mut().for_each(scrub),
        Value::Object(o) => {
            if o.keys().any(|k| k.contains('\0')) {
                *o = std::mem::take(o)
                    .into_iter()
                    .map(|(k, v)| (scrubbed(&k), v))
                    .collect();
            }
            o.values_mut().for_each(scrub);
        }
        _ => {}
    }
}

/// The delivery `body` as `webhook_events.payload` stores it: unchanged,
/// unless a string or key in it holds a NUL, which then becomes
/// [`NUL_REPLACEMENT`] as in the parsed [`Envelope`].
///
/// Why not keep the NUL: the column is `jsonb`, which rejects `\u0000`.
/// Why this loses nothing the signature vouched for: `jsonb` never kept
/// the signed bytes (it reorders keys, drops whitespace and duplicate
/// keys), so a stored payload could never be re-verified anyway; it keeps
/// the event's content, and this content then matches the rows written
/// from the same scrubbed envelope. Keeping the exact bytes would take a
/// `bytea` column, a change to the shared platform schema.
pub fn stored_payload(body: &str) -> Result<Cow<'_, str>, EventError> {
    // JSON can carry a NUL only as this escape: a raw control character
    // is invalid in a JSON string. A false hit (an escaped backslash
    // before `u0000`) only costs a re-serialisation.
    if !body.contains("\\u0000") {
        return Ok(Cow::Borrowed(body));
    }
    let mut v: Value = serde_json::from_str(body).map_err(|e| EventError(e.to_string()))?;
    scrub(&mut v);
    Ok(Cow::Owned(v.to_string()))
}

/// A malformed or unusable event body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Stripe event: {0}")]
pub struct EventError(pub String);

/// The envelope of every Stripe event.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// `evt_…`, the deduplication key.
    pub id: String,
    /// The event type, e.g. `customer.subscription.updated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds when Stripe created the event: the ordering key.
    pub created: i64,
    /// `data`.
    pub data: Data,
}

/// `data` of an event.
#[derive(Debug, Clone, Deserialize)]
pub struct Data {
    /// The object the event is about, as sent.
    pub object: Value,
}

impl Envelope {
    /// Parses an event body; every NUL in its strings becomes
    /// [`NUL_REPLACEMENT`], so any part of it can be stored.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let mut e: Envelope =
            serde_json::from_slice(body).map_err(|e| EventError(e.to_string()))?;
        scrub_str(&mut e.id);
        scrub_str(&mut e.kind);
        scrub(&mut e.data.object);
        if !e.id.starts_with("evt_") || e.id.len() > 255 {
            return Err(EventError(format!("event id {:?} is not an evt_ id", e.id)));
        }
        if !e.data.object.is_object() {
            return Err(EventError("data.object is not an object".into()));
        }
        Ok(e)
    }
}

/// What roomctl needs of a Stripe subscription object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionFacts {
    /// `sub_…`.
    pub id: String,
    /// `cus_…`.
    pub customer: String,
    /// Status.
    pub status: SubStatus,
    /// The price of the first item (MindRoom subscriptions have one).
    pub price: Option<String>,
    /// `trial_end`.
    pub trial_end: Option<i64>,
    /// `current_period_end` (on the item since API 2025-03, on the
    /// subscription before).
    pub current_period_end: Option<i64>,
    /// `canceled_at`, else `ended_at`.
    pub cancelled_at: Option<i64>,
}

/// What roomctl needs of a Stripe customer object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFacts {
    /// `cus_…`.
    pub id: String,
    /// Email.
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
}

/// The ids a checkout session or invoice links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// `cus_…`.
    pub customer: Option<String>,
    /// `sub_…`.
    pub subscription: Option<String>,
    /// An email seen on the object (checkout's customer details).
    pub email: Option<String>,
    /// A name seen on the object.
    pub name: Option<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_i64()
}

/// An id field that may be a plain id or an expanded object.
fn id_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn need(v: Option<String>, what: &str) -> Result<String, EventError> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| EventError(format!("{what} is missing")))
}

impl SubscriptionFacts {
    /// Reads a `subscription` object.
    pub fn from_object(o: &Value) -> Result<Self, EventError> {
        if str_at(o, &["object"]) != Some("subscription") {
            return Err(EventError("data.object is not a subscription".into()));
        }
        let id = need(str_at(o, &["id"]).map(str::to_owned), "subscription id")?;
        let customer = need(id_of(o, "customer"), "subscription customer")?;
        let raw = str_at(o, &["status"]).unwrap_or_default();
        let status = SubStatus::from_stripe(raw)
            .ok_or_else(|| EventError(format!("unknown subscription status {raw:?}")))?;
        let item = o
            .get("items")
            .and_then(|i| i.get("data"))
            .and_then(|d| d.get(0));
        let price = item.and_then(|i| {
            id_of(i.get("price")?, "id").or_else(|| str_at(i, &["price"]).map(str::to_owned))
        });
        let current_period_end = int_at(o, &["current_period_end"])
            .or_else(|| item.and_then(|i| int_at(i, &["current_period_end"])));
        Ok(Self {
            id,
            customer,
            status,
            price,
            trial_end: int_at(o, &["trial_end"]),
            current_period_end,
            cancelled_at: int_at(o, &["canceled_at"]).or_else(|| int_at(o, &["ended_at"])),
        })
    }
}

impl CustomerFacts {
    /// Reads a `customer` object.
    pub fn from_object(o: &Value) -> Result<Self, EventError> {
        if str_at(o, &["object"]) != Some("customer") {
            return Err(EventError("data.object is not a customer".into()));
        }
        Ok(Self {
            id: need(str_at(o, &["id"]).map(str::to_owned), "customer id")?,
            email: str_at(o, &["email"]).map(str::to_owned),
            name: str_at(o, &["name"]).map(str::to_owned),
        })
    }
}

impl Links {
    /// Reads the links of a `checkout.session` or `invoice` object.
    pub fn from_object(o: &Value) -> Self {
        let subscription = id_of(o, "subscription").or_else(|| {
            let parent = o.get("parent")?.get("subscription_details")?;
            id_of(parent, "subscription")
        });
        Self {
            customer: id_of(o, "customer"),
            subscription,
            email: str_at(o, &["customer_details", "email"])
                .or_else(|| str_at(o, &["customer_email"]))
                .map(str::to_owned),
            name: str_at(o, &["customer_details", "name"]).map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_subscription_reads_its_price_and_period_from_the_first_item() {
        let o = json!({"object": "subscription", "id": "sub_1", "customer": "cus_1", "status": "past_due",
            "trial_end": null, "canceled_at": null,
            "items": {"data": [{"price": {"id": "price_a"}, "current_period_end": 99}]}});
        let f = SubscriptionFacts::from_object(&o).unwrap();
        assert_eq!(
            (f.status, f.price.as_deref(), f.current_period_end),
            (SubStatus::PastDue, Some("price_a"), Some(99))
        );
    }

    #[test]
    fn an_expanded_customer_is_read_by_its_id() {
        let o = json!({"object": "subscription", "id": "sub_1", "customer": {"id": "cus_9"}, "status": "active"});
        assert_eq!(
            SubscriptionFacts::from_object(&o).unwrap().customer,
            "cus_9"
        );
    }

    #[test]
    fn an_unknown_status_is_an_error_not_a_guess() {
        let o = json!({"object": "subscription", "id": "sub_1", "customer": "cus_1", "status": "weird"});
        assert!(SubscriptionFacts::from_object(&o).is_err());
    }

    #[test]
    fn an_invoice_links_its_subscription_in_either_api_shape() {
        let old = json!({"customer": "cus_1", "subscription": "sub_1"});
        let new = json!({"customer": "cus_1", "parent": {"subscription_details": {"subscription": "sub_1"}}});
        assert_eq!(
            Links::from_object(&old).subscription.as_deref(),
            Some("sub_1")
        );
        assert_eq!(
            Links::from_object(&new).subscription.as_deref(),
            Some("sub_1")
        );
    }

    #[test]
    fn an_envelope_without_an_event_id_is_malformed() {
        assert!(
            Envelope::parse(br#"{"id":"x","type":"a","created":1,"data":{"object":{}}}"#).is_err()
        );
        assert!(Envelope::parse(b"not json").is_err());
        assert!(
            Envelope::parse(br#"{"id":"evt_1","type":"a","created":1,"data":{"object":{}}}"#)
                .is_ok()
        );
    }
}
