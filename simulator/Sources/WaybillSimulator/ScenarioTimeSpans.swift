// Every time a scenario names — durations, window starts, delays, intervals — checked against
// `Scenario.timeSpanHoursMax` before a run turns it into milliseconds (Int64): a number read from
// JSON may be anything up to 1.8e308, and `Int64(_:)` of a Double past Int64.max traps.

extension Scenario {
    func validateTimeSpans() throws {
        for span in timeSpans where !(span.value.isFinite && span.value >= 0 && span.value * span.hoursPerUnit <= Self.timeSpanHoursMax) {
            throw ScenarioError("\(span.name) must be a time between 0 and \(Int(Self.timeSpanHoursMax)) hours (\(Int(Self.timeSpanHoursMax / 24)) days), not \(span.value)")
        }
    }

    /// Each time field: its name in the file, its value in the unit the name gives, and that unit in hours.
    var timeSpans: [(name: String, value: Double, hoursPerUnit: Double)] {
        let hour = 1.0, minute = 1.0 / 60, day = 24.0, millisecond = 1.0 / 3_600_000
        var spans: [(name: String, value: Double, hoursPerUnit: Double)] = [("duration_hours", durationHours, hour), ("drain_hours", drainHours, hour)]
        func window(_ prefix: String, _ window: Window) {
            spans.append(("\(prefix).start_hour", window.startHour, hour))
            spans.append(("\(prefix).duration_hours", window.durationHours, hour))
        }
        for (index, peak) in peaks.enumerated() { window("peaks[\(index)]", peak) }
        for channel in channels {
            for (index, burst) in channel.bursts.enumerated() { window("\(channel.channel).bursts[\(index)]", burst) }
        }
        spans += [
            ("lifecycle.payment_hold_minutes", lifecycle.paymentHoldMinutes, minute),
            ("lifecycle.cancel_after_minutes", lifecycle.cancelAfterMinutes, minute),
            ("lifecycle.edit_after_minutes", lifecycle.editAfterMinutes, minute),
            ("lifecycle.release_delay_minutes", lifecycle.releaseDelayMinutes, minute),
            ("lifecycle.pick_minutes", lifecycle.pickMinutes, minute),
            ("lifecycle.pack_minutes", lifecycle.packMinutes, minute),
            ("lifecycle.ship_minutes", lifecycle.shipMinutes, minute),
            ("lifecycle.pickup_collect_hours", lifecycle.pickupCollectHours, hour),
            ("lifecycle.return_after_days", lifecycle.returnAfterDays, day),
            ("lifecycle.return_transit_days", lifecycle.returnTransitDays, day),
            ("checkout.think_minutes", checkout.thinkMinutes, minute),
            ("replenishment.review_interval_hours", replenishment.reviewIntervalHours, hour),
            ("replenishment.lead_time_hours", replenishment.leadTimeHours, hour),
            ("erp.poll_interval_ms", Double(erp.pollIntervalMs), millisecond),
            ("erp.ack_delay_ms", erp.ackDelayMs, millisecond),
            ("erp.invoice_delay_ms", erp.invoiceDelayMs, millisecond),
            ("erp.snapshot_interval_hours", erp.snapshotIntervalHours, hour),
            ("clients.timeout_ms", Double(clients.timeoutMs), millisecond),
            ("clients.retry_backoff_ms", Double(clients.retryBackoffMs), millisecond),
        ]
        for (index, fault) in faults.enumerated() {
            spans.append(("faults[\(index)].start_hour", fault.startHour, hour))
            spans.append(("faults[\(index)].duration_minutes", fault.durationMinutes, minute))
            spans.append(("faults[\(index)].extra_delay_ms", fault.extraDelayMs, millisecond))
        }
        return spans
    }
}
