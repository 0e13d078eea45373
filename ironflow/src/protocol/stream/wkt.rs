//! The `google.protobuf` well-known types the worker stream uses
//! (`Timestamp`, `Struct`, `Value`, `ListValue`) and their JSON.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// `t` as a timestamp (times before the epoch clamp to it).
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        Timestamp {
            seconds: since.as_secs() as i64,
            nanos: since.subsec_nanos() as i32,
        }
    }

    /// `ms` milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }
    }

    /// The timestamp as a time (negative parts clamp to the epoch).
    pub fn to_system_time(self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(self.seconds.max(0) as u64)
            + Duration::from_nanos(self.nanos.max(0) as u64)
    }
}

/// `google.protobuf.Struct`: a JSON object.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Struct {
    /// Its members.
    #[prost(btree_map = "string, message", tag = "1")]
    pub fields: BTreeMap<String, ProtoValue>,
}

/// `google.protobuf.Value`: any JSON value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoValue {
    /// Which value.
    #[prost(oneof = "value::Kind", tags = "1, 2, 3, 4, 5, 6")]
    pub kind: Option<value::Kind>,
}

/// `google.protobuf.Value`'s oneof.
pub mod value {
    use super::*;

    /// A JSON value.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// `null` (the enum `NullValue`, always 0).
        #[prost(int32, tag = "1")]
        NullValue(i32),
        /// A number (a double, as in JSON).
        #[prost(double, tag = "2")]
        NumberValue(f64),
        /// A string.
        #[prost(string, tag = "3")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "4")]
        BoolValue(bool),
        /// An object.
        #[prost(message, tag = "5")]
        StructValue(Struct),
        /// An array.
        #[prost(message, tag = "6")]
        ListValue(ListValue),
    }
}

/// `google.protobuf.ListValue`: a JSON array.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListValue {
    /// Its items.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<ProtoValue>,
}

/// JSON `value` as a `google.protobuf.Value`.
pub fn from_value(value: &Value) -> ProtoValue {
    use value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(from_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(struct_from_map(map)),
    };
    ProtoValue { kind: Some(kind) }
}

/// A JSON object as a `google.protobuf.Struct`; `None` for anything else.
pub fn struct_from_value(value: &Value) -> Option<Struct> {
    value.as_object().map(struct_from_map)
}

fn struct_from_map(map: &serde_json::Map<String, Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), from_value(v)))
            .collect(),
    }
}

/// A `google.protobuf.Value` as JSON. A number with no fraction that a
/// double holds exactly becomes an integer (`3`, not `3.0`): protobuf has
/// only doubles, and the SDKs' JSON has integers.
pub fn to_value(value: &ProtoValue) -> Value {
    use value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(list.values.iter().map(to_value).collect()),
        Some(Kind::StructValue(s)) => struct_to_value(s),
    }
}

/// A `google.protobuf.Struct` as a JSON object.
pub fn struct_to_value(s: &Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect(),
    )
}

/// The larger magnitude below which every integer is a double exactly.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= EXACT_INTEGERS {
        return Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// A result carried as `output` (an object) or `output_value` (anything
/// else): the JSON value, `null` when neither is set.
pub fn output_of(output: Option<&Struct>, output_value: Option<&ProtoValue>) -> Value {
    match (output_value, output) {
        (Some(value), _) => to_value(value),
        (None, Some(s)) => struct_to_value(s),
        (None, None) => Value::Null,
    }
}
