// swift-tools-version: 6.0
// llmkit: read, write, quantize, run, serve and train language models in one Swift package.
// Module graph (arrows point down only): llmkit (CLI) → Server | Finetune → Infer → Quant → Formats (+ CKernels, BLAS)
// (see ../shared/docs/DESIGN.md).
import PackageDescription

let package = Package(
    name: "llmkit",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "llmkit", targets: ["llmkit"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Quant", targets: ["Quant"]),
        .library(name: "Infer", targets: ["Infer"]),
        .library(name: "Server", targets: ["Server"]),
        .library(name: "Finetune", targets: ["Finetune"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        .target(name: "Formats"),
        // SIMD kernels in C (intrinsics with per-function target attributes, run-time dispatch).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // BLAS: OpenBLAS on Linux through this module map; Accelerate on macOS.
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .target(
            name: "Quant",
            dependencies: ["Formats", "CKernels", .target(name: "CBLAS", condition: .when(platforms: [.linux]))],
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS]))]),
        .target(name: "Infer", dependencies: ["Formats", "Quant"]),
        // Training: ops with forward and backward, models, AdamW, data, the trainer, evaluation (see DESIGN.md).
        .target(name: "Finetune", dependencies: ["Infer", "Formats", "Quant", "CKernels"]),
        // Ollama's and OpenAI's HTTP APIs over Infer: routes, the model store, the per-model decode scheduler.
        .target(
            name: "Server",
            dependencies: [
                "Infer", "Formats", "Quant",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "llmkit",
            dependencies: [
                "Formats", "Quant", "Infer", "Server", "Finetune",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Kernel benchmark (release builds only; see benchmarks/kernels.py for the llama.cpp comparison).
        .executableTarget(name: "kernels-bench", dependencies: ["Formats", "Quant"], path: "benchmarks/Kernels"),
        .testTarget(name: "FormatsTests", dependencies: ["Formats"]),
        .testTarget(name: "QuantTests", dependencies: ["Quant", "Formats"]),
        .testTarget(name: "InferTests", dependencies: ["Infer", "Quant", "Formats", "CKernels"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Infer"]),
        .testTarget(name: "FinetuneTests", dependencies: ["Finetune", "Infer", "Quant", "Formats"]),
    ]
)
