import CFuzzDriver
import Foundation
import FuzzSupport
import JobModel
import JobQueue

private let fixedKey = Array("0b5a3f2e-6c1d-4e8a-9f00-1234567890ab".utf8)

/// Input: byte 0 picks the record key (bit 0: none or a fixed job id; bit 1: the key is instead the
/// bytes up to the first newline); the rest is the record value. A parse either returns a message that
/// satisfies the job limits or throws a `JobMessageError` — anything else (a trap, a hang) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJobMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = bytes.first else { return 0 }
    var rest = Array(bytes.dropFirst())
    var key: [UInt8]? = mode & 1 == 1 ? fixedKey : nil
    if mode & 2 == 2, let newline = rest.firstIndex(of: 0x0A) {
        key = Array(rest[..<newline])
        rest = Array(rest[(newline + 1)...])
    }
    let message: JobMessage
    do {
        message = try JobMessage.parse(value: rest, key: key)
    } catch let error as JobMessageError {
        invariant(!error.description.isEmpty, "empty error description")
        return 0
    } catch {
        invariant(false, "parse threw something other than JobMessageError: \(error)")
        return 0
    }
    let limits = JobLimits.standard
    invariant(message.validate(limits: limits).isEmpty, "parsed message breaks the job limits: \(message)")
    // What the worker parsed must survive the producer's encoding unchanged (retries re-produce it).
    do {
        let again = try JobMessage.parse(value: Array(try JSONEncoder().encode(message)), key: nil)
        invariant(again == message, "re-encoded message parses differently: \(message) vs \(again)")
    } catch {
        invariant(false, "re-encoded message no longer parses: \(error)")
    }
    return 0
}

/// The executable's entry point (SwiftPM aliases main to it); hands over to libFuzzer.
@_cdecl("FuzzJobMessage_main")
public func fuzzJobMessageMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    ternflux_fuzz_main(argc, argv, fuzzJobMessage)
}
