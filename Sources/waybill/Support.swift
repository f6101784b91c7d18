// Shared helpers of the command-line tool: JSON in and out, errors, logging.

import ArgumentParser
import Foundation
import Logging
import SwiftProtobuf
import WaybillClient
import WaybillProto

/// Reads FILE ("-" = stdin) as protobuf JSON into `M`. A failure names the file, line and column,
/// the field path, and the known fields or valid enum values.
func readJSON<M: SwiftProtobuf.Message>(_ path: String, as type: M.Type = M.self) throws -> M {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read \(path)")
        }
        data = contents
    }
    do {
        return try ProtoJSONInput.decode(data, as: M.self, source: path == "-" ? "stdin" : path)
    } catch let error as ProtoJSONInputError {
        throw CLIError(error.description)
    }
}

/// Protobuf JSON (lowerCamelCase names, e.g. "orderId"), pretty-printed, keys sorted, with zero
/// values and empty lists present.
func prettyJSON(_ message: some SwiftProtobuf.Message) -> String {
    if let text = try? ProtoJSONOutput.prettyText(message) { return text }
    return (try? message.jsonString()) ?? "{}"
}

func printJSON(_ message: some SwiftProtobuf.Message) {
    print(prettyJSON(message))
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a client call: failures print "CODE: message" on stderr and exit non-zero. `connection`:
/// TLS and the token (ConnectionOptions).
func withClient<T>(_ server: String, clientID: String = "waybill-cli", connection: ConnectionOptions? = nil,
                   _ body: (WaybillClient) async throws -> T) async throws -> T {
    var configuration = ClientConfiguration()
    configuration.clientID = clientID
    try connection?.apply(to: &configuration)
    let client: WaybillClient
    do {
        client = try await WaybillClient.connect(server, configuration: configuration)
    } catch {
        fail(error)
    }
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        fail(error)
    }
}

func fail(_ error: Error) -> Never {
    let line: String
    if let status = error as? WaybillStatusError {
        var detail = ""
        if !status.details.field.isEmpty { detail += " (field \(status.details.field))" }
        if !status.details.currentState.isEmpty { detail += " (state \(status.details.currentState))" }
        line = "\(status.code.name): \(status.message)\(detail)"
    } else {
        line = "error: \(error)"
    }
    FileHandle.standardError.write(Data((line + "\n").utf8))
    exit(1)
}

func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Protobuf JSON given on the command line itself (`source` names the option in errors).
func decodeInlineJSON<M: SwiftProtobuf.Message>(_ text: String, as type: M.Type = M.self, source: String) throws -> M {
    do {
        return try ProtoJSONInput.decode(Data(text.utf8), as: M.self, source: source)
    } catch let error as ProtoJSONInputError {
        throw CLIError(error.description)
    }
}
