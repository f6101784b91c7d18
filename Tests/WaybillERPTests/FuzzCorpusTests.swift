// The committed fuzz corpus (fuzz/corpus/TARGET, and fuzz/regressions/TARGET: every input a fuzzer
// crashed on) replayed through the same entry points as the fuzz targets, without libFuzzer or
// sanitizers, on every test run. The scenario target's corpus is replayed by FuzzScenarioCorpusTests.

import Foundation
import NIOCore
import Testing
import WaybillERP
import WaybillProto
import WaybillServer
import WaybillWire

/// The repository this test file is in.
let fuzzRepositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Every committed input of `target`: the seed corpus and the crash regressions, by name.
func fuzzInputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
    var inputs: [(name: String, bytes: [UInt8])] = []
    for folder in ["fuzz/corpus/\(target)", "fuzz/regressions/\(target)"] {
        let directory = fuzzRepositoryRoot.appendingPathComponent(folder)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { continue }
        for name in names.sorted() where !name.hasPrefix(".") {
            inputs.append(("\(folder)/\(name)", [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))))
        }
    }
    return inputs
}

@Suite struct FuzzCorpusTests {
    @Test func frameCorpusDecodesOrIsRefused() throws {
        let inputs = try fuzzInputs("frame")
        #expect(inputs.count >= 5)
        var frames = 0
        for input in inputs {
            do {
                frames += try FuzzEntryPoints.frames(input.bytes)
            } catch {
                Issue.record("\(input.name): \(error)")
            }
        }
        #expect(frames > 0, "the seeds hold real frames")
    }

    @Test func erpDropCorpusDecodesOrIsRefused() throws {
        let inputs = try fuzzInputs("erp-drop")
        #expect(inputs.count >= 3)
        let directory = try temporaryDirectory("fuzz-erp-drop")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var decoded = 0
        for input in inputs {
            do {
                decoded += try FuzzEntryPoints.erpDrop(input.bytes, stateDirectory: directory)
            } catch {
                Issue.record("\(input.name): \(error)")
            }
        }
        #expect(decoded > 0, "the seeds hold real messages")
    }

    @Test func erpExtractCorpusMapsOrIsRefused() throws {
        let inputs = try fuzzInputs("erp-extract")
        #expect(inputs.count >= 3)
        var discrepancies = 0
        for input in inputs {
            do {
                discrepancies += try FuzzEntryPoints.erpExtract(input.bytes)
            } catch {
                Issue.record("\(input.name): \(error)")
            }
        }
        #expect(discrepancies > 0, "the seeds are extracts that reach the comparison")
    }

    @Test func policyCorpusIsAcceptedOrRefused() throws {
        let inputs = try fuzzInputs("policy")
        #expect(inputs.count >= 3)
        var accepted = 0
        for input in inputs {
            do {
                if try FuzzEntryPoints.policy(input.bytes) { accepted += 1 }
            } catch {
                Issue.record("\(input.name): \(error)")
            }
        }
        #expect(accepted >= 3, "examples/policies are accepted")
    }

    /// Every request seed and regression through a live in-process server: answered, never INTERNAL.
    @Test func requestCorpusIsAnsweredCleanly() async throws {
        let inputs = try fuzzInputs("request")
        let directory = try temporaryDirectory("fuzz-request")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await RequestFuzzServer.start(directory: directory, repositoryRoot: fuzzRepositoryRoot.path)
        var methods: Set<String> = []
        for input in inputs {
            let (method, answer) = server.send(input.bytes)
            methods.insert(method)
            let result: Result<[UInt8], Error>
            do { result = .success(try await answer.get()) } catch { result = .failure(error) }
            do {
                try FuzzEntryPoints.check(result, method: method)
            } catch {
                Issue.record("\(input.name): \(error)")
            }
        }
        await server.stop()
        #expect(methods == Set(FuzzEntryPoints.requestMethods), "a seed for every method; missing: \(Set(FuzzEntryPoints.requestMethods).subtracting(methods).sorted())")
    }

    /// The request target's method table is every unary method of the generated method table, so a
    /// new RPC is fuzzed once it is added to proto/ (its position in the list is part of the corpus's
    /// encoding, so the list is written out rather than derived).
    @Test func requestMethodTableCoversEveryUnaryRPC() {
        let unary = Method.all.filter { !$0.serverStreaming }.map(\.path)
        #expect(Set(FuzzEntryPoints.requestMethods) == Set(unary), "missing: \(Set(unary).subtracting(FuzzEntryPoints.requestMethods).sorted())")
        #expect(FuzzEntryPoints.requestMethods.count == unary.count, "no method twice")
        #expect(Method.all.filter(\.serverStreaming).map(\.path) == [Method.ChangeFeedService.subscribe])
    }
}
