//! libFuzzer target for the payloads: any JSON text, read as every event's
//! payload and as every server event, decodes or is refused without a
//! panic, and what decodes re-encodes to itself. The proptest properties in
//! `crates/protocol/tests/payload_fuzz.rs` check the same from generated
//! input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::strategies::EVENT_NAMES;
use protocol::{
    Ack, AddUser, CatchUp, ConnectAuth, Credentials, History, NewMessage, ServerEvent,
    validate_message, validate_username,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &Value) {
    if let Ok(decoded) = serde_json::from_value::<T>(value.clone()) {
        let again = serde_json::to_value(&decoded).map(serde_json::from_value::<T>);
        assert!(matches!(again, Ok(Ok(ref d)) if *d == decoded), "{value}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(name) = validate_username(text) {
            assert_eq!(validate_username(name), Ok(name));
        }
        if let Ok(message) = validate_message(text) {
            assert_eq!(validate_message(message), Ok(message));
        }
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    round_trip::<AddUser>(&value);
    round_trip::<NewMessage>(&value);
    round_trip::<History>(&value);
    round_trip::<CatchUp>(&value);
    round_trip::<ConnectAuth>(&value);
    round_trip::<Credentials>(&value);
    round_trip::<Ack<Value>>(&value);
    for name in EVENT_NAMES {
        if let Ok(event) = ServerEvent::decode(name, value.clone()) {
            let again = serde_json::to_value(&event).map(|v| ServerEvent::decode(name, v));
            assert!(
                matches!(again, Ok(Ok(ref e)) if *e == event),
                "{name}: {value}"
            );
        }
    }
});
