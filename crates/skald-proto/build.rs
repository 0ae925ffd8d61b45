//! Generates the Rust messages and tonic stubs from `proto/` with protox (a protobuf
//! compiler written in Rust), so building needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/logproto/push.proto", "proto/skald/ingester/v1/ingester.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    // `bytes::Bytes` for the push messages: a distributor sends the same streams to
    // several ingesters, and cloning a `Bytes` shares the line instead of copying it.
    tonic_prost_build::configure().bytes(".logproto").build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
