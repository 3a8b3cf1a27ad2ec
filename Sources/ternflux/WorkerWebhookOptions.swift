import ArgumentParser
import Foundation
import Worker

/// The worker's completion-webhook flags: the signing secret (a file, or the environment; never a flag, so it
/// stays out of `ps`), how many attempts a delivery gets, and whether private addresses may be called.
extension WorkerCommand {
    /// The policy from the flags and environment; nil when no secret is configured (this worker sends none).
    func webhookPolicy(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> WebhookPolicy? {
        let secret: String
        if let path = webhookSecretFile ?? environment["TERNFLUX_WEBHOOK_SECRET_FILE"] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read the webhook secret file \(path)")
            }
            secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let value = environment["TERNFLUX_WEBHOOK_SECRET"] {
            secret = value
        } else {
            return nil
        }
        guard secret.utf8.count >= 16 else {
            throw ValidationError("the webhook signing secret must be at least 16 bytes long (it keys HMAC-SHA256)")
        }
        var policy = WebhookPolicy(secret: Array(secret.utf8))
        policy.maxAttempts = webhookMaxAttempts
        policy.allowPrivateAddresses = webhookAllowPrivateAddresses
        return policy
    }
}
