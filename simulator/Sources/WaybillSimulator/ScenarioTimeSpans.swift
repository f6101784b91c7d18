// Every time a scenario names — durations, window starts, delays, intervals — checked against
// `Scenario.timeSpanHoursMax` before a run turns it into milliseconds (Int64): a number read from
// JSON may be anything up to 1.8e308, and `Int64(_:)` of a Double past Int64.max traps.

extension Scenario {
    func validateTimeSpans() throws {
        for (name, hours) in timeSpansInHours where !(hours.isFinite && hours >= 0 && hours <= Self.timeSpanHoursMax) {
            throw ScenarioError("\(name) must be a time between 0 and \(Int(Self.timeSpanHoursMax)) hours (\(Int(Self.timeSpanHoursMax / 24)) days), not \(Self.describe(hours: hours, as: name))")
        }
    }

    /// Each time field by its name in the file, converted to hours.
    var timeSpansInHours: [(String, Double)] {
        var spans: [(String, Double)] = [("duration_hours", durationHours), ("drain_hours", drainHours)]
        func window(_ prefix: String, _ window: Window) {
            spans.append(("\(prefix).start_hour", window.startHour))
            spans.append(("\(prefix).duration_hours", window.durationHours))
        }
        for (index, peak) in peaks.enumerated() { window("peaks[\(index)]", peak) }
        for channel in channels {
            for (index, burst) in channel.bursts.enumerated() { window("\(channel.channel).bursts[\(index)]", burst) }
        }
        let minutes = 1.0 / 60, days = 24.0, milliseconds = 1.0 / 3_600_000
        spans += [
            ("lifecycle.payment_hold_minutes", lifecycle.paymentHoldMinutes * minutes),
            ("lifecycle.cancel_after_minutes", lifecycle.cancelAfterMinutes * minutes),
            ("lifecycle.edit_after_minutes", lifecycle.editAfterMinutes * minutes),
            ("lifecycle.release_delay_minutes", lifecycle.releaseDelayMinutes * minutes),
            ("lifecycle.pick_minutes", lifecycle.pickMinutes * minutes),
            ("lifecycle.pack_minutes", lifecycle.packMinutes * minutes),
            ("lifecycle.ship_minutes", lifecycle.shipMinutes * minutes),
            ("lifecycle.pickup_collect_hours", lifecycle.pickupCollectHours),
            ("lifecycle.return_after_days", lifecycle.returnAfterDays * days),
            ("lifecycle.return_transit_days", lifecycle.returnTransitDays * days),
            ("checkout.think_minutes", checkout.thinkMinutes * minutes),
            ("replenishment.review_interval_hours", replenishment.reviewIntervalHours),
            ("replenishment.lead_time_hours", replenishment.leadTimeHours),
            ("erp.poll_interval_ms", Double(erp.pollIntervalMs) * milliseconds),
            ("erp.ack_delay_ms", erp.ackDelayMs * milliseconds),
            ("erp.invoice_delay_ms", erp.invoiceDelayMs * milliseconds),
            ("erp.snapshot_interval_hours", erp.snapshotIntervalHours),
            ("clients.timeout_ms", Double(clients.timeoutMs) * milliseconds),
            ("clients.retry_backoff_ms", Double(clients.retryBackoffMs) * milliseconds),
        ]
        for (index, fault) in faults.enumerated() {
            spans.append(("faults[\(index)].start_hour", fault.startHour))
            spans.append(("faults[\(index)].duration_minutes", fault.durationMinutes * minutes))
            spans.append(("faults[\(index)].extra_delay_ms", fault.extraDelayMs * milliseconds))
        }
        return spans
    }

    /// The value as the file wrote it, back in the field's own unit.
    private static func describe(hours: Double, as name: String) -> String {
        let value: Double
        if name.hasSuffix("_minutes") { value = hours * 60 } else if name.hasSuffix("_days") { value = hours / 24 } else if name.hasSuffix("_ms") { value = hours * 3_600_000 } else { value = hours }
        return "\(value)"
    }
}
