//! Generates the sample app's gRPC server and client (`gatehouse.sample.v1.Echo`) without
//! `protoc`: the messages are written by hand with `prost` derives in `src/sample/grpc.rs`,
//! `tonic_build::manual` writes the service plumbing around them.

use tonic_build::manual::{Builder, Method, Service};

fn method(
    name: &str,
    route: &str,
    input: &str,
    output: &str,
) -> tonic_build::manual::MethodBuilder {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::sample::grpc::{input}"))
        .output_type(format!("crate::sample::grpc::{output}"))
        .codec_path("tonic_prost::ProstCodec")
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let echo = Service::builder()
        .name("Echo")
        .package("gatehouse.sample.v1")
        .comment("The sample app's test service: a unary echo and a server-streaming counter.")
        .method(
            method("say", "Say", "EchoRequest", "EchoReply")
                .comment("Echoes the message and names the backend; `fail:<code>` fails with that status code.")
                .build(),
        )
        .method(
            method("count", "Count", "CountRequest", "CountReply")
                .comment("Streams `n` replies `interval_ms` apart (0: until the client goes away).")
                .server_streaming()
                .build(),
        )
        .build();
    Builder::new().build_transport(false).compile(&[echo]);
}
