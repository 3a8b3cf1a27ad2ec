// swift-tools-version:6.2
import PackageDescription

// libFuzzer targets for TernFlux's parsers, one executable each. Built by ops/fuzz/run with
// `-sanitize=fuzzer,address` applied to every module (so the parsers themselves are instrumented) and
// a scratch path of its own (.build-fuzz), so the main package's normal `swift build` is untouched.
// Each harness defines LLVMFuzzerTestOneInput; libFuzzer supplies main, hence -parse-as-library.
let harness: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

func fuzzer(_ name: String) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["FuzzSupport", "CFuzzDriver", .product(name: "TernFluxLibraries", package: "TernFlux")],
        swiftSettings: harness
    )
}

let package = Package(
    name: "TernFluxFuzz",
    dependencies: [.package(name: "TernFlux", path: "..")],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: [.product(name: "TernFluxLibraries", package: "TernFlux")]),
        fuzzer("FuzzJobMessage"),
        fuzzer("FuzzBatchJSONL"),
        fuzzer("FuzzBatchCSV"),
        fuzzer("FuzzBatchText"),
        fuzzer("FuzzSafeTensorsHeader"),
        fuzzer("FuzzCLIPTokenizer"),
        fuzzer("FuzzT5Tokenizer"),
    ],
    swiftLanguageModes: [.v5]
)
