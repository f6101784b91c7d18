// Why the router chose or passed over each location: the reason texts (built without string
// interpolation: it showed in profiles) and the capped list of decisions an order keeps.

extension Router {
    /// The first `count` elements of `items` in `areInIncreasingOrder`, sorted: the same as
    /// `items.sorted(by:).prefix(count)` for a strict total order, without sorting everything
    /// (the explanation names a few locations out of many).
    static func first<T>(_ count: Int, of items: [T], by areInIncreasingOrder: (T, T) -> Bool) -> [T] {
        guard count > 0 else { return [] }
        var kept: [T] = []
        kept.reserveCapacity(min(count, items.count))
        for item in items {
            if kept.count == count {
                guard areInIncreasingOrder(item, kept[count - 1]) else { continue }
                kept.removeLast()
            }
            var position = kept.count
            while position > 0 && areInIncreasingOrder(item, kept[position - 1]) { position -= 1 }
            kept.insert(item, at: position)
        }
        return kept
    }

    /// "not chosen: covers U unit(s) of L/N line(s)" + tail.
    public static func coverage(_ units: Int32, _ lines: Int32, _ lineCount: Int, _ tail: String) -> String {
        ReasonText.make(extra: tail.utf8.count) { text in
            text.put("not chosen: covers ")
            text.put(Int64(units))
            text.put(" unit(s) of ")
            text.put(Int64(lines))
            text.put("/")
            text.put(Int64(lineCount))
            text.put(" line(s)")
            text.put(tail)
        }
    }

    /// "chosen: ships U units of L line(s), [resource, ]cost C CUR minor, T transit day(s), score S".
    public static func chosenReason(units: Int32, lines: Int, resource: String?, cost: Int64, currency: String, transitDays: Int32,
                             score: Double) -> String {
        let score = format(score)
        return ReasonText.make(extra: (resource?.utf8.count ?? 0) + currency.utf8.count + score.utf8.count) { text in
            text.put("chosen: ships ")
            text.put(Int64(units))
            text.put(" units of ")
            text.put(Int64(lines))
            text.put(" line(s), ")
            if let resource {
                text.put(resource)
                text.put(", ")
            }
            text.put("cost ")
            text.put(cost)
            text.put(" ")
            text.put(currency)
            text.put(" minor, ")
            text.put(Int64(transitDays))
            text.put(" transit day(s), score ")
            text.put(score)
        }
    }

    public static func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return scaled == scaled.rounded() ? String(Int64(scaled)) : String(scaled)
    }
}

/// Builds an explanation's text straight into a new string's storage: one allocation, no
/// regrowth (string interpolation cost a quarter of a routing decision in profiles).
struct ReasonText {
    /// Room for the literal parts and up to six numbers; `extra` covers the variable strings.
    static let literalCapacity = 192

    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    static func make(extra: Int, _ body: (inout ReasonText) -> Void) -> String {
        String(unsafeUninitializedCapacity: literalCapacity + extra) { buffer in
            var text = ReasonText(buffer: buffer)
            body(&text)
            return text.count
        }
    }

    private init(buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    mutating func put(_ literal: StaticString) {
        literal.withUTF8Buffer { append($0) }
    }

    mutating func put(_ string: String) {
        if string.utf8.withContiguousStorageIfAvailable({ append($0) }) == nil {
            for byte in string.utf8 { append(CollectionOfOne(byte)) }
        }
    }

    private mutating func append(_ bytes: CollectionOfOne<UInt8>) {
        guard count < buffer.count else { return }
        buffer[count] = bytes.first!
        count += 1
    }

    mutating func put(_ value: Int64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var magnitude = value.magnitude
        var length = 0
        withUnsafeMutableBytes(of: &digits) { scratch in
            repeat {
                scratch[19 - length] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                length += 1
            } while magnitude > 0
            if value < 0 {
                scratch[19 - length] = UInt8(ascii: "-")
                length += 1
            }
            append(UnsafeRawBufferPointer(rebasing: scratch[(20 - length)...]).assumingMemoryBound(to: UInt8.self))
        }
    }

    private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        // The capacity is sized by the caller; never write past it whatever happens.
        let room = min(bytes.count, buffer.count - count)
        guard room > 0, let source = bytes.baseAddress, let target = buffer.baseAddress else { return }
        (target + count).update(from: source, count: room)
        count += room
    }
}

/// Collects why locations were chosen or not, keeping at most `limit` entries and a count of
/// the rest by reason.
struct Explanation {
    let limit: Int
    var decisions: [LocationDecision] = []
    /// The summary each entry of `decisions` is counted under if the cap drops it ("" for chosen ones).
    var summaries: [String] = []
    /// Entries past the cap, counted per summary in first-seen order (few distinct summaries).
    var omitted: [(summary: String, count: Int)] = []

    init(limit: Int) { self.limit = limit }

    /// Entries that can still be named before the cap.
    var room: Int { max(0, limit - decisions.count) }

    /// Counts `count` entries past the cap under `summary` without building them.
    mutating func omit(summary: String, count: Int) {
        guard count > 0 else { return }
        if let index = omitted.firstIndex(where: { $0.summary == summary }) {
            omitted[index].count += count
        } else {
            omitted.append((summary, count))
        }
    }

    mutating func chosen(_ location: LocationID, score: Double, reason: String) {
        let index = decisions.firstIndex { !$0.chosen } ?? decisions.endIndex
        decisions.insert(LocationDecision(locationID: location, chosen: true, code: .chosen, reason: reason, score: score), at: index)
        summaries.insert("", at: index)
    }
    mutating func rejected(_ location: LocationID, score: Double, reason: @autoclosure () -> String) {
        // Past the cap only the count survives: do not format the reason.
        guard decisions.count < limit else {
            add(LocationDecision(locationID: location, chosen: false, code: .outranked, reason: "", score: score), summary: "not chosen")
            return
        }
        add(LocationDecision(locationID: location, chosen: false, code: .outranked, reason: reason(), score: score), summary: "not chosen")
    }
    mutating func filtered(_ code: LocationDecision.Code, _ reason: String, _ location: LocationID) {
        add(LocationDecision(locationID: location, chosen: false, code: code, reason: reason, score: 0), summary: reason)
    }
    private mutating func add(_ decision: LocationDecision, summary: String) {
        if decisions.count < limit {
            decisions.append(decision)
            summaries.append(summary)
        } else {
            Self.count(summary, in: &omitted)
        }
    }

    private static func count(_ summary: String, in omitted: inout [(summary: String, count: Int)]) {
        if let index = omitted.firstIndex(where: { $0.summary == summary }) {
            omitted[index].count += 1
        } else {
            omitted.append((summary, 1))
        }
    }
    func finish() -> [LocationDecision] {
        var result = decisions
        var omitted = omitted
        // Chosen entries always survive; the cap applies to the rest, which are still counted.
        let chosenCount = result.filter(\.chosen).count
        if result.count > max(limit, chosenCount) {
            for summary in summaries[max(limit, chosenCount)...] { Self.count(summary, in: &omitted) }
            result = Array(result.prefix(max(limit, chosenCount)))
        }
        for (summary, count) in omitted {
            result.append(LocationDecision(locationID: LocationID("*"), chosen: false, code: .summarised, reason: "\(count) more: \(summary)", score: 0))
        }
        return result
    }
}
