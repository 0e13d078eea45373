//! Binary protobuf to proto3 JSON and back, walking a [`Message`]'s
//! schema (`shared/spec/connect-rpc.md` §1.7, §6): 64-bit integers as
//! strings, enums by name, `Timestamp` as RFC 3339, `Duration` as
//! `"1.5s"`, `Struct`/`Value` as the JSON they stand for, maps as objects. Unknown field numbers and unknown JSON keys
//! are skipped; JSON accepts the lowerCamelCase and the snake_case names.

use bytes::{Buf, BufMut};
use ironflow::protocol::stream::{ProtoValue, Struct, Timestamp};
use prost::Message as _;
use prost::encoding::{
    DecodeContext, WireType, decode_key, decode_varint, encode_key, encode_varint, skip_field,
};
use serde_json::{Map, Value};

use super::schema::{Card, Field, Kind, Message};

/// `bytes`, a `message` of type `message`, as proto3 JSON.
pub(crate) fn decode(mut bytes: &[u8], message: &Message) -> Result<Value, String> {
    let mut out = Map::new();
    while bytes.has_remaining() {
        let (number, wire) =
            decode_key(&mut bytes).map_err(|e| format!("{}: {e}", message.name))?;
        let Some(field) = message.fields.iter().find(|f| f.number == number) else {
            skip_field(wire, number, &mut bytes, DecodeContext::default())
                .map_err(|e| format!("{}: {e}", message.name))?;
            continue;
        };
        let at = |e: String| format!("{}.{}: {e}", message.name, field.json);
        match field.card {
            Card::Single => {
                let value = one(&mut bytes, wire, field.kind).map_err(at)?;
                // A message field seen twice merges; the engine's clients
                // never split one, so the last wins as for scalars.
                out.insert(field.json.to_owned(), value);
            }
            Card::Repeated => {
                let items = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(items) = items else {
                    unreachable!("a repeated field's entry is an array")
                };
                if wire == WireType::LengthDelimited && packable(field.kind) {
                    let mut packed = length_delimited(&mut bytes).map_err(at)?;
                    while packed.has_remaining() {
                        items.push(
                            one(&mut packed, scalar_wire(field.kind), field.kind).map_err(at)?,
                        );
                    }
                } else {
                    items.push(one(&mut bytes, wire, field.kind).map_err(at)?);
                }
            }
            Card::Map(key) => {
                let mut entry = length_delimited(&mut bytes).map_err(at)?;
                let (mut k, mut v) = (Value::Null, Value::Null);
                while entry.has_remaining() {
                    let (n, w) = decode_key(&mut entry).map_err(|e| at(e.to_string()))?;
                    match n {
                        1 => k = one(&mut entry, w, key).map_err(at)?,
                        2 => v = one(&mut entry, w, field.kind).map_err(at)?,
                        _ => skip_field(w, n, &mut entry, DecodeContext::default())
                            .map_err(|e| at(e.to_string()))?,
                    }
                }
                let key = match k {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                if v.is_null() {
                    v = default_json(field.kind);
                }
                let map = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(key, v);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// The proto3 JSON `value` of a `message` as binary protobuf.
pub(crate) fn encode(value: &Value, message: &Message) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_into(value, message, &mut out)?;
    Ok(out)
}

fn encode_into(value: &Value, message: &Message, out: &mut Vec<u8>) -> Result<(), String> {
    let object = match value {
        Value::Object(object) => object,
        Value::Null => return Ok(()),
        other => return Err(format!("{} is a JSON object, not {other}", message.name)),
    };
    for field in message.fields {
        let Some(v) = object.get(field.json).or_else(|| object.get(field.name)) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let at = |e: String| format!("{}.{}: {e}", message.name, field.json);
        match field.card {
            // The X/X_value pair (connect-rpc.md §1.7): a JSON reply may
            // hold any JSON in X; what is not an object goes in X_value.
            Card::Single if matches!(field.kind, Kind::Struct) && !v.is_object() => {
                let sibling = message.fields.iter().find(|f| {
                    matches!(f.kind, Kind::Value)
                        && f.json.strip_suffix("Value") == Some(field.json)
                });
                match sibling {
                    Some(x_value) if !object.contains_key(x_value.json) => {
                        put(x_value, v, true, out).map_err(at)?
                    }
                    _ => put(field, v, true, out).map_err(at)?,
                }
            }
            Card::Single => put(field, v, true, out).map_err(at)?,
            Card::Repeated => {
                let Value::Array(items) = v else {
                    return Err(at(format!("a repeated field is a JSON array, not {v}")));
                };
                if packable(field.kind) {
                    let mut packed = Vec::new();
                    for item in items {
                        scalar(field.kind, item, &mut packed).map_err(at)?;
                    }
                    if !packed.is_empty() {
                        encode_key(field.number, WireType::LengthDelimited, out);
                        encode_varint(packed.len() as u64, out);
                        out.extend_from_slice(&packed);
                    }
                } else {
                    for item in items {
                        put(field, item, false, out).map_err(at)?;
                    }
                }
            }
            Card::Map(key) => {
                let Value::Object(map) = v else {
                    return Err(at(format!("a map is a JSON object, not {v}")));
                };
                for (k, item) in map {
                    let mut entry = Vec::new();
                    let key_field = Field {
                        number: 1,
                        name: "key",
                        json: "key",
                        kind: key,
                        card: Card::Single,
                    };
                    put(&key_field, &Value::String(k.clone()), false, &mut entry).map_err(at)?;
                    let value_field = Field {
                        number: 2,
                        name: "value",
                        json: "value",
                        kind: field.kind,
                        card: Card::Single,
                    };
                    put(&value_field, item, false, &mut entry).map_err(at)?;
                    encode_key(field.number, WireType::LengthDelimited, out);
                    encode_varint(entry.len() as u64, out);
                    out.extend_from_slice(&entry);
                }
            }
        }
    }
    Ok(())
}

/// Numbers and enums are packed when repeated (proto3's default).
fn packable(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Bool | Kind::I32 | Kind::I64 | Kind::U64 | Kind::F64 | Kind::Enum(_)
    )
}

fn scalar_wire(kind: Kind) -> WireType {
    match kind {
        Kind::F64 => WireType::SixtyFourBit,
        _ => WireType::Varint,
    }
}

fn length_delimited<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = decode_varint(bytes).map_err(|e| e.to_string())? as usize;
    if len > bytes.len() {
        return Err(format!("a length of {len} runs past the message"));
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(head)
}

/// One value of `kind`, read off `bytes` (its key already read).
fn one(bytes: &mut &[u8], wire: WireType, kind: Kind) -> Result<Value, String> {
    let expected = match kind {
        Kind::F64 => WireType::SixtyFourBit,
        Kind::Bool | Kind::I32 | Kind::I64 | Kind::U64 | Kind::Enum(_) => WireType::Varint,
        _ => WireType::LengthDelimited,
    };
    if wire != expected {
        return Err(format!("wire type {wire:?} where {expected:?} belongs"));
    }
    let varint = |bytes: &mut &[u8]| decode_varint(bytes).map_err(|e| e.to_string());
    Ok(match kind {
        Kind::Bool => Value::Bool(varint(bytes)? != 0),
        Kind::I32 => Value::from(varint(bytes)? as i32),
        Kind::I64 => Value::String((varint(bytes)? as i64).to_string()),
        Kind::U64 => Value::String(varint(bytes)?.to_string()),
        Kind::Enum(values) => {
            let n = varint(bytes)? as i32;
            values
                .iter()
                .find(|(v, _)| *v == n)
                .map_or_else(|| Value::from(n), |(_, name)| Value::from(*name))
        }
        Kind::F64 => {
            if bytes.remaining() < 8 {
                return Err("a double runs past the message".to_owned());
            }
            float(bytes.get_f64_le())
        }
        Kind::Str => {
            let raw = length_delimited(bytes)?;
            Value::String(
                std::str::from_utf8(raw)
                    .map_err(|_| "a string is not UTF-8".to_owned())?
                    .to_owned(),
            )
        }
        Kind::Message(message) => decode(length_delimited(bytes)?, message)?,
        Kind::Struct => {
            let s = Struct::decode(length_delimited(bytes)?).map_err(|e| e.to_string())?;
            ironflow::protocol::stream::struct_to_value(&s)
        }
        Kind::Value => {
            let v = ProtoValue::decode(length_delimited(bytes)?).map_err(|e| e.to_string())?;
            ironflow::protocol::stream::to_value(&v)
        }
        Kind::Timestamp => {
            let t = Timestamp::decode(length_delimited(bytes)?).map_err(|e| e.to_string())?;
            serde_json::to_value(t).map_err(|e| e.to_string())?
        }
        Kind::Duration => {
            // Same fields as a Timestamp: seconds = 1, nanos = 2.
            let d = Timestamp::decode(length_delimited(bytes)?).map_err(|e| e.to_string())?;
            Value::String(duration_text(d.seconds, d.nanos))
        }
    })
}

/// A double as JSON: the special values as proto3 JSON spells them.
fn float(f: f64) -> Value {
    if f.is_nan() {
        Value::from("NaN")
    } else if f.is_infinite() {
        Value::from(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

fn duration_text(seconds: i64, nanos: i32) -> String {
    if nanos == 0 {
        return format!("{seconds}s");
    }
    let sign = if seconds < 0 || nanos < 0 { "-" } else { "" };
    let fraction = format!("{:09}", nanos.unsigned_abs());
    format!(
        "{sign}{}.{}s",
        seconds.unsigned_abs(),
        fraction.trim_end_matches('0')
    )
}

/// The JSON a map value takes when its entry leaves it out.
fn default_json(kind: Kind) -> Value {
    match kind {
        Kind::Str => Value::from(""),
        Kind::Bool => Value::Bool(false),
        Kind::I64 | Kind::U64 => Value::from("0"),
        Kind::I32 | Kind::F64 => Value::from(0),
        Kind::Enum(values) => values
            .first()
            .map_or(Value::from(0), |(_, n)| Value::from(*n)),
        Kind::Message(_) | Kind::Struct => Value::Object(Map::new()),
        Kind::Value | Kind::Timestamp | Kind::Duration => Value::Null,
    }
}

/// Writes `field` = `v`. A singular scalar at its default value is left
/// out (proto3 implicit presence); messages are written even when empty.
fn put(field: &Field, v: &Value, singular: bool, out: &mut Vec<u8>) -> Result<(), String> {
    let delimited = |payload: &[u8], out: &mut Vec<u8>| {
        encode_key(field.number, WireType::LengthDelimited, out);
        encode_varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    };
    match field.kind {
        Kind::Str => {
            let Value::String(s) = v else {
                return Err(format!("a string field holds a JSON string, not {v}"));
            };
            if !(singular && s.is_empty()) {
                delimited(s.as_bytes(), out);
            }
        }
        Kind::Message(message) => delimited(&encode(v, message)?, out),
        Kind::Struct => {
            let s = ironflow::protocol::stream::struct_from_value(v)
                .ok_or_else(|| format!("a Struct is a JSON object, not {v}"))?;
            delimited(&s.encode_to_vec(), out);
        }
        Kind::Value => delimited(
            &ironflow::protocol::stream::from_value(v).encode_to_vec(),
            out,
        ),
        Kind::Timestamp => {
            let t: Timestamp = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
            delimited(&t.encode_to_vec(), out);
        }
        Kind::Duration => {
            let (seconds, nanos) = parse_duration(v)?;
            delimited(&Timestamp { seconds, nanos }.encode_to_vec(), out);
        }
        _ => {
            let mut payload = Vec::new();
            scalar(field.kind, v, &mut payload)?;
            let default = match field.kind {
                Kind::F64 => payload.iter().all(|b| *b == 0),
                _ => payload == [0],
            };
            if !(singular && default) {
                encode_key(field.number, scalar_wire(field.kind), out);
                out.extend_from_slice(&payload);
            }
        }
    }
    Ok(())
}

/// A number, boolean or enum's payload (no key).
fn scalar(kind: Kind, v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let integer = |v: &Value| -> Result<i128, String> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i128))
                .ok_or_else(|| format!("{n} is not an integer")),
            Value::String(s) => s
                .trim()
                .parse::<i128>()
                .map_err(|_| format!("{s:?} is not an integer")),
            other => Err(format!("an integer is a number or a string, not {other}")),
        }
    };
    let ranged = |n: i128, min: i128, max: i128| {
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is out of range"))
        }
    };
    match kind {
        Kind::Bool => match v {
            Value::Bool(b) => encode_varint(u64::from(*b), out),
            other => return Err(format!("a bool field holds true or false, not {other}")),
        },
        Kind::I32 => encode_varint(
            ranged(integer(v)?, i32::MIN.into(), i32::MAX.into())? as i64 as u64,
            out,
        ),
        Kind::I64 => encode_varint(
            ranged(integer(v)?, i64::MIN.into(), i64::MAX.into())? as i64 as u64,
            out,
        ),
        Kind::U64 => encode_varint(ranged(integer(v)?, 0, u64::MAX.into())? as u64, out),
        Kind::Enum(values) => {
            let n = match v {
                // The full name, or the engine's JSON word for it
                // (`completed` for `RUN_STATUS_COMPLETED`, §5.1).
                Value::String(name) => values
                    .iter()
                    .find(|(_, n)| n == name)
                    .or_else(|| {
                        let suffix = format!("_{}", name.to_ascii_uppercase());
                        let mut matching = values.iter().filter(|(_, n)| n.ends_with(&suffix));
                        matching.next().filter(|_| matching.next().is_none())
                    })
                    .map(|(number, _)| *number)
                    .ok_or_else(|| {
                        let known: Vec<&str> = values.iter().map(|(_, n)| *n).collect();
                        format!("unknown enum value {name:?}; known: {}", known.join(", "))
                    })?,
                other => ranged(integer(other)?, i32::MIN.into(), i32::MAX.into())? as i32,
            };
            encode_varint(n as i64 as u64, out);
        }
        Kind::F64 => out.put_f64_le(number(v)?),
        _ => unreachable!("scalar() is called for scalar kinds"),
    }
    Ok(())
}

fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .parse()
                .map_err(|_| format!("{other:?} is not a number")),
        },
        other => Err(format!("a number field holds a number, not {other}")),
    }
}

/// `"1.5s"` as seconds and nanoseconds.
fn parse_duration(v: &Value) -> Result<(i64, i32), String> {
    let text = v
        .as_str()
        .and_then(|s| s.strip_suffix('s'))
        .ok_or_else(|| format!("a Duration is a string like \"1.5s\", not {v}"))?;
    let negative = text.starts_with('-');
    let (whole, fraction) = text
        .trim_start_matches('-')
        .split_once('.')
        .unwrap_or((text.trim_start_matches('-'), ""));
    let seconds: i64 = whole
        .parse()
        .map_err(|_| format!("{v} is not a Duration"))?;
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{v} is not a Duration"));
    }
    let nanos: i32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}")
            .parse()
            .map_err(|_| format!("{v} is not a Duration"))?
    };
    Ok(if negative {
        (-seconds, -nanos)
    } else {
        (seconds, nanos)
    })
}

#[cfg(test)]
#[path = "codec/tests.rs"]
mod tests;
