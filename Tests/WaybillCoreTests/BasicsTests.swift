// The vocabulary: time, ids, distance, rate bands, availability and processing days.
import Testing
import PropertyBased
import WaybillCore

struct BasicsTests {
    @Test("days and minutes of the UTC day, also before the epoch")
    func timestamps() async {
        #expect(Timestamp(millisecondsSinceEpoch: 0).day == 0)
        #expect(Timestamp(millisecondsSinceEpoch: -1).day == -1)
        #expect(Timestamp(millisecondsSinceEpoch: -1).minuteOfDay == 1_439)
        #expect(Timestamp.startOfDay(3).adding(milliseconds: 61 * 60_000).minuteOfDay == 61)
        await propertyCheck(count: 300, input: Gen.int64(in: -10_000_000_000_000...10_000_000_000_000)) { ms in
            let t = Timestamp(millisecondsSinceEpoch: ms)
            #expect(Timestamp.startOfDay(t.day) <= t && t < Timestamp.startOfDay(t.day + 1))
            #expect((0..<1_440).contains(t.minuteOfDay))
            #expect(t.adding(days: 2).day == t.day + 2)
        }
    }

    @Test("order ids: W- and eight digits, ordered like their sequence")
    func orderIDs() {
        #expect(OrderID(sequence: 42).rawValue == "W-00000042")
        #expect(OrderID(sequence: 123_456_789).rawValue == "W-123456789")
        #expect(OrderID(sequence: 7).sequence == 7)
        #expect(OrderID("X-1").sequence == nil)
        #expect(OrderID(sequence: 9) < OrderID(sequence: 10))
    }

    @Test("great-circle distances")
    func distances() {
        // Philadelphia – Newark ≈ 120 km; Philadelphia – Reno ≈ 3,700 km; London – Paris ≈ 344 km.
        let phl = Net.philadelphia
        let newark = Coordinates(latitude: 40.7357, longitude: -74.1724)
        let reno = Coordinates(latitude: 39.5296, longitude: -119.8138)
        #expect(abs(phl.distanceKilometres(to: newark) - 120) < 10)
        #expect(abs(phl.distanceKilometres(to: reno) - 3_740) < 60)
        #expect(abs(Coordinates(latitude: 51.5072, longitude: -0.1276).distanceKilometres(to: Coordinates(latitude: 48.8566, longitude: 2.3522)) - 344) < 5)
        #expect(phl.distanceKilometres(to: phl) == 0)
        #expect(abs(phl.distanceKilometres(to: reno) - reno.distanceKilometres(to: phl)) < 1e-9)
    }

    @Test("a rate is the cheapest band covering both distance and weight")
    func rates() {
        let service = Net.carrier.services[0]
        #expect(service.rate(distanceKilometres: 10, weightGrams: 1_000)?.cost == Net.money(400))
        #expect(service.rate(distanceKilometres: 50, weightGrams: 10_000)?.cost == Net.money(400), "band limits are inclusive")
        #expect(service.rate(distanceKilometres: 51, weightGrams: 1_000)?.cost == Net.money(800))
        #expect(service.rate(distanceKilometres: 10, weightGrams: 10_001)?.cost == Net.money(3_000))
        #expect(service.rate(distanceKilometres: 5_001, weightGrams: 1) == nil)
        #expect(service.rate(distanceKilometres: 10, weightGrams: 40_001) == nil)
    }

    @Test("available to promise is on hand − reserved − safety stock, never negative")
    func available() async {
        await propertyCheck(count: 200, input: Gen.int64(in: 0...100), Gen.int64(in: 0...100), Gen.int64(in: 0...100)) { onHand, reserved, safety in
            let balance = Balance(onHand: onHand, reserved: reserved, safetyStock: safety)
            #expect(balance.available == max(0, onHand - reserved - safety))
        }
    }

    @Test("after its cutoff a location's new fulfillments count against the next day")
    func processingDay() {
        var location = Location(locationID: LocationID("L"))
        let morning = Timestamp.startOfDay(100).adding(milliseconds: 9 * 3_600_000)
        let evening = Timestamp.startOfDay(100).adding(milliseconds: 18 * 3_600_000)
        #expect(location.processingDay(at: evening) == 100, "no cutoff")
        location.cutoffMinuteUTC = 15 * 60
        #expect(location.processingDay(at: morning) == 100)
        #expect(location.processingDay(at: Timestamp.startOfDay(100).adding(milliseconds: 15 * 3_600_000)) == 101, "at the cutoff minute")
        #expect(location.processingDay(at: evening) == 101)
    }
}

@Suite("Order value semantics")
struct OrderValueSemanticsTests {
    @Test("a copy is independent: changing one (fields, nested arrays, in place) never changes the other")
    func copiesAreIndependent() {
        let original = Order(id: OrderID(sequence: 1), draft: Net.draft("E-1", [(Net.skuA, 2)]), capturedAt: Net.start, captureSequence: 1)
        var copy = original
        #expect(copy == original)
        copy.lines[0].quantities.backordered += 2
        copy.history.append(HistoryEntry(at: Net.start, action: "captured", reason: "", clientID: "c", requestID: "", detail: "", version: 1))
        copy.version = 7
        copy.customer.name = "Someone Else"
        #expect(original.lines[0].quantities.backordered == 0)
        #expect(original.history.isEmpty && original.version == 0 && original.customer.name == "Pat Customer")
        #expect(copy != original)
        // Equal content in different storage: equal, with equal hashes.
        var rebuilt = Order(id: OrderID(sequence: 1), draft: Net.draft("E-1", [(Net.skuA, 2)]), capturedAt: Net.start, captureSequence: 1)
        #expect(rebuilt == original && rebuilt.hashValue == original.hashValue)
        rebuilt.updatedAt = Net.start.adding(milliseconds: 1)
        #expect(rebuilt != original)
    }
}
