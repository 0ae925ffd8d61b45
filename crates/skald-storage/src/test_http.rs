//! A loopback HTTP server for the clients' unit tests: it records each request and
//! answers 200 with a body of the test's choosing (and an ETag, which S3 clients want).

use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback HTTP server answering each request with `answer(request text)`;
/// returns its address and the requests it saw.
pub async fn serve(answer: fn(&str) -> String) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0u8; 64 * 1024];
            let n = socket.read(&mut buffer).await.unwrap();
            let text = String::from_utf8_lossy(&buffer[..n]).to_string();
            log.lock().unwrap().push(text.clone());
            let body = answer(&text);
            let response = format!("HTTP/1.1 200 OK\r\netag: \"e\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    (address, seen)
}
