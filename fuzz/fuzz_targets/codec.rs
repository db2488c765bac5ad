//! libFuzzer target for the Engine.IO / Socket.IO codec: any bytes as a
//! frame decode or are refused without a panic, and what decodes encodes
//! back to a frame that decodes as the same packet. The proptest properties
//! in `crates/sio-client/tests/codec_fuzz.rs` check the same from generated
//! input; this one lets coverage guide the search.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sio_client::codec::{EnginePacket, SocketPacket};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(packet) = EnginePacket::decode(frame) {
        assert_eq!(EnginePacket::decode(&packet.encode()), Ok(packet));
    }
    if let Ok(packet) = SocketPacket::decode(frame) {
        assert_eq!(SocketPacket::decode(&packet.encode()), Ok(packet));
    }
});
