//! A `graphql-transport-ws` client for the tests, over tokio-tungstenite: connect with the
//! subprotocol, send JSON messages, read what the server sends.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What the server sent.
#[derive(Debug)]
pub enum Frame {
    Text(Value),
    Close(u16, String),
}

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Opens `path` with the `graphql-transport-ws` subprotocol, which the server must accept.
    pub async fn connect(addr: SocketAddr, path: &str) -> WsClient {
        let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (stream, response) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|e| panic!("upgrade refused: {e}"));
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws"),
            "the server speaks graphql-transport-ws"
        );
        WsClient { stream }
    }

    /// Sends one JSON message as a text frame.
    pub async fn send(&mut self, message: &Value) {
        self.stream.send(Message::text(message.to_string())).await.unwrap();
    }

    /// The next text or close frame (pings and pongs skipped) within `wait`; `None` when none
    /// came.
    pub async fn receive(&mut self, wait: Duration) -> Option<Frame> {
        tokio::time::timeout(wait, self.read_frame()).await.ok()
    }

    /// The next text or close frame, which must come within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Frame {
        self.receive(wait)
            .await
            .unwrap_or_else(|| panic!("nothing came within {wait:?}"))
    }

    async fn read_frame(&mut self) -> Frame {
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    return Frame::Text(serde_json::from_str(text.as_str()).unwrap());
                }
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(frame) => Frame::Close(u16::from(frame.code), frame.reason.to_string()),
                        None => Frame::Close(1005, String::new()),
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("the connection failed: {e}"),
                None => return Frame::Close(1006, "closed without a close frame".into()),
            }
        }
    }
}
