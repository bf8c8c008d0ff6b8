// swift-tools-version: 6.0
// llmkit: read, write, quantize, run, serve and train language models in one Swift package.
// Module graph (arrows point down only): llmkit (CLI) → Quant → Formats. Infer, Finetune and Server
// join as their issues land (see docs in ../shared/docs/DESIGN.md).
import PackageDescription

let package = Package(
    name: "llmkit",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "llmkit", targets: ["llmkit"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Quant", targets: ["Quant"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "Formats"),
        .target(name: "Quant", dependencies: ["Formats"]),
        .executableTarget(
            name: "llmkit",
            dependencies: [
                "Formats", "Quant",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats"]),
        .testTarget(name: "QuantTests", dependencies: ["Quant", "Formats"]),
    ]
)
