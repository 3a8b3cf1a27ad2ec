import Foundation
import XCTest
@testable import FluxModel
import TernaryTensors

final class FlowMatchSchedulerTests: XCTestCase {
    static let fluxDevConfig = #"""
    {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0",
     "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
     "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": true}
    """#

    func makeScheduler(_ json: String) throws -> FlowMatchEulerDiscreteScheduler {
        let config = try JSONDecoder().decode(FlowMatchEulerDiscreteSchedulerConfig.self, from: Data(json.utf8))
        return try FlowMatchEulerDiscreteScheduler(config: config)
    }

    func testFluxDevSchedulesMatchDiffusersBitForBit() throws {
        // diffusers 0.42.1, FluxPipeline's schedule: retrieve_timesteps(scheduler, n, sigmas=np.linspace(1, 1/n, n),
        // mu=calculate_shift(seq, 256, 4096, 0.5, 1.15)); float32 bit patterns of scheduler.sigmas and timesteps.
        let s = try makeScheduler(Self.fluxDevConfig)
        XCTAssertEqual(s.mu(imageSequenceLength: 256), 0.5, accuracy: 1e-15)
        let four = try s.schedule(steps: 4, imageSequenceLength: 256)
        XCTAssertEqual(four.sigmas.map(\.bitPattern), [1065353216, 1062531696, 1059019135, 1052087848, 0])
        XCTAssertEqual(four.timesteps.map(\.bitPattern), [1148846080, 1146090689, 1142660454, 1135695011])
        let seven = try s.schedule(steps: 7, imageSequenceLength: 1024)
        XCTAssertEqual(seven.sigmas.map(\.bitPattern),
                       [1065353216, 1063985397, 1062406757, 1060564489, 1058386536, 1054579298, 1047794030, 0])
        XCTAssertEqual(seven.timesteps.map(\.bitPattern),
                       [1148846080, 1147510319, 1145968679, 1144169589, 1142042682, 1138128068, 1131305221])
        XCTAssertEqual(try s.sigmas(steps: 1, imageSequenceLength: 64), [1, 0])
    }

    func testFixedShiftWhenDynamicShiftingIsOff() throws {
        let s = try makeScheduler(#"{"shift": 3.0, "use_dynamic_shifting": false}"#)
        let sigmas = try s.sigmas(steps: 2, imageSequenceLength: 4096)
        // linspace(1, 0.5, 2) = [1, 0.5]; 3·0.5 / (1 + 2·0.5) = 0.75
        XCTAssertEqual(sigmas, [1, 0.75, 0])
    }

    func testEulerStepIsFloat32MultiplyThenAdd() throws {
        var x = Tensor(shape: [1, 3], storage: [1, 2, 3])
        let v = Tensor(shape: [1, 3], storage: [0.5, -1, 10])
        try FlowMatchEulerDiscreteScheduler.step(&x, velocity: v, sigma: 1, sigmaNext: 0.75)
        XCTAssertEqual(x.storage, [1 - 0.125, 2 + 0.25, 3 - 2.5])
        XCTAssertThrowsError(try FlowMatchEulerDiscreteScheduler.step(&x, velocity: Tensor(zeros: [3]), sigma: 1, sigmaNext: 0))
    }

    func testBadInputsGiveClearErrors() throws {
        let s = try makeScheduler(Self.fluxDevConfig)
        XCTAssertThrowsError(try s.sigmas(steps: 0, imageSequenceLength: 256)) { error in
            XCTAssertTrue("\(error)".contains("steps must be ≥ 1"), "\(error)")
        }
        XCTAssertThrowsError(try makeScheduler(#"{"use_karras_sigmas": true}"#)) { error in
            XCTAssertTrue("\(error)".contains("use_karras_sigmas"), "\(error)")
        }
        XCTAssertThrowsError(try makeScheduler(#"{"time_shift_type": "cubic"}"#))
        let missing = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("no-such-scheduler-\(UUID())")
        XCTAssertThrowsError(try FlowMatchEulerDiscreteScheduler(directory: missing)) { error in
            XCTAssertTrue("\(error)".contains("scheduler_config.json"), "\(error)")
        }
    }
}

/// Every case of Tests/Fixtures/expected/scheduler.json (diffusers' FluxPipeline schedules, float32 values written
/// as exact decimals) must come out bit for bit, and the Euler run must reproduce diffusers' samples exactly.
final class FlowMatchSchedulerFixtureTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/expected/scheduler.json")

    struct Fixture: Decodable {
        struct Case: Decodable {
            let config: String
            let steps: Int
            let image_seq_len: Int
            let mu: Double
            let sigmas: [Double]
            let timesteps: [Double]
        }
        struct Euler: Decodable {
            let config: String
            let steps: Int
            let image_seq_len: Int
            let initial_sample: [Double]
            let model_outputs: [[Double]]
            let samples_after_step: [[Double]]
        }
        let configs: [String: FlowMatchEulerDiscreteSchedulerConfig]
        let cases: [Case]
        let euler: Euler
    }

    func load() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Self.fixture))
    }

    func testAllSchedulesMatchDiffusers() throws {
        let fixture = try load()
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 30)
        for c in fixture.cases {
            let config = try XCTUnwrap(fixture.configs[c.config], "config \(c.config)")
            let scheduler = try FlowMatchEulerDiscreteScheduler(config: config)
            let label = "\(c.config) steps \(c.steps) seq \(c.image_seq_len)"
            XCTAssertEqual(scheduler.mu(imageSequenceLength: c.image_seq_len), c.mu, accuracy: 1e-15, label)
            let schedule = try scheduler.schedule(steps: c.steps, imageSequenceLength: c.image_seq_len)
            XCTAssertEqual(schedule.sigmas, c.sigmas.map { Float($0) }, label)
            XCTAssertEqual(schedule.timesteps, c.timesteps.map { Float($0) }, label)
        }
    }

    func testEulerRunMatchesDiffusers() throws {
        let e = try load().euler
        let scheduler = try FlowMatchEulerDiscreteScheduler(config: try XCTUnwrap(load().configs[e.config]))
        let schedule = try scheduler.schedule(steps: e.steps, imageSequenceLength: e.image_seq_len)
        var x = Tensor(shape: [e.initial_sample.count], storage: e.initial_sample.map { Float($0) })
        for i in 0..<e.steps {
            let v = Tensor(shape: x.shape, storage: e.model_outputs[i].map { Float($0) })
            try schedule.step(&x, velocity: v, index: i)
            XCTAssertEqual(x.storage, e.samples_after_step[i].map { Float($0) }, "after step \(i)")
        }
        XCTAssertThrowsError(try schedule.step(&x, velocity: x, index: e.steps))
    }
}
