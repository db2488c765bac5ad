//! placeholder replaced by the sio-client work
