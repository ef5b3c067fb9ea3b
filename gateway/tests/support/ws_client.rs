//! A minimal WebSocket client (RFC 6455) for the tests: the upgrade handshake, masked text
//! frames out, unmasked frames in. Just enough to speak `graphql-transport-ws`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the server sent.
#[derive(Debug)]
pub enum Frame {
    Text(Value),
    Close(u16, String),
}

pub struct WsClient {
    stream: TcpStream,
}

impl WsClient {
    /// Opens `path` with the `graphql-transport-ws` subprotocol.
    pub async fn connect(addr: SocketAddr, path: &str) -> WsClient {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let handshake = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        );
        stream.write_all(handshake.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-protocol: graphql-transport-ws"),
            "{head}"
        );
        WsClient { stream }
    }

    /// Sends one JSON message as a masked text frame.
    pub async fn send(&mut self, message: &Value) {
        let payload = message.to_string().into_bytes();
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next text or close frame (pings and pongs skipped), within `wait`.
    pub async fn receive(&mut self, wait: Duration) -> Frame {
        tokio::time::timeout(wait, self.read_frame())
            .await
            .unwrap_or_else(|_| panic!("no frame within {wait:?}"))
    }

    async fn read_frame(&mut self) -> Frame {
        loop {
            let first = self.stream.read_u8().await.unwrap();
            let second = self.stream.read_u8().await.unwrap();
            let length = match second & 0x7f {
                126 => u64::from(self.stream.read_u16().await.unwrap()),
                127 => self.stream.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mut payload = vec![0u8; length as usize];
            self.stream.read_exact(&mut payload).await.unwrap();
            match first & 0x0f {
                0x1 => return Frame::Text(serde_json::from_slice(&payload).unwrap()),
                0x8 => {
                    let code = payload
                        .get(..2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .unwrap_or(1005);
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).into_owned();
                    return Frame::Close(code, reason);
                }
                _ => continue,
            }
        }
    }
}
