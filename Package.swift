// swift-tools-version:6.2
import PackageDescription

// Kernels are always compiled optimised: a debug build of the test suite would otherwise run the
// GEMMs at -O0 and the tests would take minutes instead of seconds.
let kernelCFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno", "-pthread"])]
// The numeric Swift code is compiled with optimisation in every configuration for the same reason.
let numericSwiftFlags: [SwiftSetting] = [.unsafeFlags(["-O", "-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "TernFlux",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ternflux", targets: ["ternflux"]),
        // The libraries, for the fuzz package under Fuzz/ (it depends on this one by path).
        .library(name: "TernFluxLibraries", targets: ["StrictJSON", "TernaryTensors", "FluxModel", "JobModel", "JobQueue", "JobClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The HTTP API and gallery (`ternflux serve`). Only the FullFoundation trait: the default
        // ConfigurationSupport trait would build swift-configuration, which the server does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
    ],
    targets: [
        // C libraries from Debian's -dev packages.
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),

        // Packed ternary GEMM kernels with runtime CPU dispatch.
        .target(
            name: "CTernaryKernels",
            cSettings: kernelCFlags,
            linkerSettings: [.linkedLibrary("pthread")]
        ),
        // The CUDA backend through the driver API (libcuda.so.1 opened at run time) and its embedded kernels.
        .target(
            name: "CCUDA",
            cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])],
            linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("pthread")]
        ),
        // The strict JSON parser for untrusted input: safetensors headers, job records, submit's JSONL lines.
        .target(name: "StrictJSON", swiftSettings: numericSwiftFlags),
        .target(
            name: "TernaryTensors",
            dependencies: ["CTernaryKernels", "COpenBLAS", "StrictJSON", "CCUDA"],
            swiftSettings: numericSwiftFlags
        ),
        .target(
            name: "FluxModel",
            dependencies: ["TernaryTensors", "CTernaryKernels", "COpenBLAS", "CZlib"],
            swiftSettings: numericSwiftFlags
        ),
        // The job: its parameters, every bound, conversions. Below the queue and the store.
        // The submit and worker hot paths (encoding, COPY, SHA-256 seeds and digests) are optimised too.
        .target(name: "JobModel", swiftSettings: numericSwiftFlags),
        .target(name: "JobQueue", dependencies: ["CRdKafka", "JobModel", "StrictJSON"], swiftSettings: numericSwiftFlags),
        .target(name: "JobStore", dependencies: ["CLibPQ", "JobModel"], swiftSettings: numericSwiftFlags),
        // Submitting, requeueing and following batches: the CLI's and (later) the HTTP API's client side.
        .target(name: "JobClient", dependencies: ["JobModel", "JobQueue", "JobStore", "StrictJSON"], swiftSettings: numericSwiftFlags),
        .target(
            name: "Worker",
            dependencies: [
                "FluxModel", "JobModel", "JobQueue", "JobStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: numericSwiftFlags
        ),
        // `ternflux serve`: the HTTP API and web gallery over the job store and queue.
        .target(
            name: "APIServer",
            dependencies: [
                "JobModel", "JobQueue", "JobStore", "JobClient", "StrictJSON",
                // Only for OutputLayout: where a job's image is (one definition, shared with the worker).
                "Worker",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // Tooling, not product: benchmarks, the mini-GenEval, and the embedded broker and throw-away PostgreSQL
        // that tests, `ternflux dev-broker` and the benchmarks start. No product target imports these.
        .target(
            name: "TernFluxBench",
            dependencies: [
                "Worker", "FluxModel", "TernaryTensors", "CTernaryKernels", "COpenBLAS", "JobModel", "JobQueue", "JobStore",
                "JobClient", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: numericSwiftFlags
        ),
        .target(name: "MiniGenEval", dependencies: ["FluxModel", "TernaryTensors", "CZlib"], swiftSettings: numericSwiftFlags),
        .target(name: "DevServices", dependencies: ["JobQueue", "JobStore", "CRdKafka"]),

        .executableTarget(
            name: "ternflux",
            dependencies: [
                "Worker", "FluxModel", "TernaryTensors", "JobModel", "JobQueue", "JobStore", "JobClient", "APIServer",
                "TernFluxBench", "MiniGenEval", "DevServices",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "StrictJSONTests", dependencies: ["StrictJSON"]),
        .testTarget(name: "TernaryTensorsTests", dependencies: ["TernaryTensors", "CTernaryKernels", "StrictJSON", "CCUDA"]),
        .testTarget(name: "FluxModelTests", dependencies: ["FluxModel", "TernaryTensors", "MiniGenEval", "TernFluxBench", "JobModel"]),
        .testTarget(name: "MiniGenEvalTests", dependencies: ["MiniGenEval", "FluxModel"]),
        .testTarget(name: "TernFluxBenchTests", dependencies: ["TernFluxBench", "DevServices", "Worker", "JobQueue", "JobStore", "JobClient"]),
        .testTarget(name: "JobQueueTests", dependencies: ["JobQueue", "JobModel", "DevServices"]),
        .testTarget(name: "JobStoreTests", dependencies: ["JobStore", "JobModel", "DevServices"]),
        .testTarget(name: "JobClientTests", dependencies: ["JobClient", "JobModel", "JobQueue"]),
        .testTarget(name: "APIServerTests", dependencies: ["APIServer", "Worker", "JobModel", "JobQueue", "JobStore", "JobClient", "DevServices"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "JobModel", "JobQueue", "JobStore", "JobClient", "FluxModel", "DevServices"]),
    ],
    swiftLanguageModes: [.v5]
)
