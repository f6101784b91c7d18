// Request validation: every rule names the field it checks, so a channel developer can fix
// the request from the error message alone.

public enum Validation {
    /// SKUs: 1...identifierBytesMax of letters, digits and . _ - / (starting with a letter or digit).
    public static func checkSKU(_ sku: String, field: String, limits: DomainLimits) -> DomainError? {
        if sku.isEmpty { return .invalid(field, "is required") }
        if sku.utf8.count > limits.identifierBytesMax {
            return .limit("identifierBytesMax", limits.identifierBytesMax, field: field, "length \(sku.utf8.count)")
        }
        var first = true
        for byte in sku.utf8 {
            let alphanumeric = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            let punctuation = byte == 0x2E || byte == 0x5F || byte == 0x2D || byte == 0x2F
            if !(alphanumeric || (!first && punctuation)) {
                return .invalid(field, "malformed SKU \"\(sku)\": use letters, digits and . _ - / (starting with a letter or digit)")
            }
            first = false
        }
        return nil
    }

    /// Identifiers (ids chosen by callers): non-empty, bounded, no control characters or spaces at the ends.
    public static func checkIdentifier(_ value: String, field: String, limits: DomainLimits, required: Bool = true) -> DomainError? {
        if value.isEmpty { return required ? .invalid(field, "is required") : nil }
        if value.utf8.count > limits.identifierBytesMax {
            return .limit("identifierBytesMax", limits.identifierBytesMax, field: field, "length \(value.utf8.count)")
        }
        if value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return .invalid(field, "contains control characters") }
        if value.first == " " || value.last == " " { return .invalid(field, "has leading or trailing spaces") }
        return nil
    }

    /// `text` cut to at most `bytesMax` UTF-8 bytes (on a character boundary, "..." marking the
    /// cut): for reasons and errors passed on from elsewhere, which must not fail for their length.
    public static func truncated(_ text: String, bytesMax: Int) -> String {
        guard text.utf8.count > bytesMax else { return text }
        var prefix = Substring(text)
        while !prefix.isEmpty && prefix.utf8.count > bytesMax - 3 { prefix = prefix.dropLast() }
        return prefix + "..."
    }

    public static func checkText(_ value: String, field: String, limits: DomainLimits) -> DomainError? {
        if value.utf8.count > limits.textBytesMax {
            return .limit("textBytesMax", limits.textBytesMax, field: field, "length \(value.utf8.count)")
        }
        return nil
    }

    public static func checkCurrency(_ code: String, field: String) -> DomainError? {
        if code.utf8.count != 3 || !code.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) {
            return .invalid(field, "currency \"\(code)\" is not an ISO 4217 code (three capital letters)")
        }
        return nil
    }

    public static func checkCoordinates(_ coordinates: Coordinates, field: String) -> DomainError? {
        if !(coordinates.latitude >= -90 && coordinates.latitude <= 90) {
            return .invalid(field + ".latitude", "must be between -90 and 90")
        }
        if !(coordinates.longitude >= -180 && coordinates.longitude <= 180) {
            return .invalid(field + ".longitude", "must be between -180 and 180")
        }
        return nil
    }

    /// Checks the lines of an order (or of a cart: `noun`) under `field` ("order.lines"): at least
    /// one, at most linesPerOrderMax, unique ids, well-formed SKUs, positive bounded quantities,
    /// one currency. The first problem found is returned.
    public static func checkLines(_ lines: [DraftLine], limits: DomainLimits, field: String, noun: String) -> DomainError? {
        if lines.isEmpty { return .invalid(field, "\(noun == "order" ? "an" : "a") \(noun) needs at least one line") }
        if lines.count > limits.linesPerOrderMax {
            return .limit("linesPerOrderMax", limits.linesPerOrderMax, field: field, "\(lines.count) lines")
        }
        let currency = lines[0].unitPrice.currency
        var lineIDs: Set<String> = []
        for (index, line) in lines.enumerated() {
            let field = "\(field)[\(index)]"
            if let error = checkIdentifier(line.lineID, field: "\(field).line_id", limits: limits) { return error }
            if !lineIDs.insert(line.lineID).inserted { return .invalid("\(field).line_id", "duplicate line id \"\(line.lineID)\"") }
            if let error = checkSKU(line.sku.rawValue, field: "\(field).sku", limits: limits) { return error }
            if line.quantity <= 0 { return .invalid("\(field).quantity", "must be positive, got \(line.quantity)") }
            if line.quantity > limits.quantityPerLineMax {
                return .limit("quantityPerLineMax", Int(limits.quantityPerLineMax), field: "\(field).quantity", "\(line.quantity) units")
            }
            if let error = checkCurrency(line.unitPrice.currency, field: "\(field).unit_price.currency") { return error }
            if line.unitPrice.currency != currency {
                return .invalid("\(field).unit_price.currency", "\(line.unitPrice.currency) differs from the \(noun)'s \(currency): one currency per \(noun)")
            }
            if line.unitPrice.minorUnits < 0 { return .invalid("\(field).unit_price.minor_units", "must not be negative") }
        }
        return nil
    }

    /// Checks an order draft; the first problem found is returned.
    public static func check(_ draft: OrderDraft, limits: DomainLimits = .default, field prefix: String = "order") -> DomainError? {
        guard draft.channel != nil else {
            return .invalid("\(prefix).channel", "is required: one of \(Channel.allCases.map(\.name).joined(separator: ", "))")
        }
        if let error = checkIdentifier(draft.externalOrderID, field: "\(prefix).external_order_id", limits: limits) { return error }
        if let error = checkLines(draft.lines, limits: limits, field: "\(prefix).lines", noun: "order") { return error }
        if draft.createdAt.millisecondsSinceEpoch < 0 { return .invalid("\(prefix).created_at_unix_ms", "must not be negative") }
        switch draft.fulfillment.method {
        case .pickup:
            guard let store = draft.fulfillment.pickupLocationID, !store.rawValue.isEmpty else {
                return .invalid("\(prefix).fulfillment.pickup_location_id", "is required for store pickup")
            }
            if let error = checkIdentifier(store.rawValue, field: "\(prefix).fulfillment.pickup_location_id", limits: limits) { return error }
        case .ship:
            if draft.shipTo.country.isEmpty { return .invalid("\(prefix).ship_to.country", "is required for shipped orders") }
            if draft.shipTo.postalCode.isEmpty { return .invalid("\(prefix).ship_to.postal_code", "is required for shipped orders") }
        }
        if !draft.shipTo.country.isEmpty
            && (draft.shipTo.country.utf8.count != 2 || !draft.shipTo.country.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A })) {
            return .invalid("\(prefix).ship_to.country", "\"\(draft.shipTo.country)\" is not an ISO 3166-1 alpha-2 code")
        }
        if let coordinates = draft.shipTo.coordinates, let error = checkCoordinates(coordinates, field: "\(prefix).ship_to.coordinates") {
            return error
        }
        let texts: [(String, String)] = [
            (draft.shipTo.name, "ship_to.name"), (draft.shipTo.city, "ship_to.city"), (draft.shipTo.region, "ship_to.region"),
            (draft.shipTo.postalCode, "ship_to.postal_code"), (draft.shipTo.phone, "ship_to.phone"),
            (draft.customer.customerID, "customer.customer_id"), (draft.customer.name, "customer.name"),
            (draft.customer.email, "customer.email"), (draft.customer.phone, "customer.phone"),
        ]
        for (value, field) in texts {
            if let error = checkText(value, field: "\(prefix).\(field)", limits: limits) { return error }
        }
        if let cartID = draft.cartID, let error = checkIdentifier(cartID, field: "\(prefix).cart_id", limits: limits) { return error }
        if draft.shipTo.lines.count > 8 { return .invalid("\(prefix).ship_to.lines", "at most 8 address lines") }
        for (index, line) in draft.shipTo.lines.enumerated() {
            if let error = checkText(line, field: "\(prefix).ship_to.lines[\(index)]", limits: limits) { return error }
        }
        if draft.holds.count > limits.holdsPerOrderMax {
            return .limit("holdsPerOrderMax", limits.holdsPerOrderMax, field: "\(prefix).holds", "\(draft.holds.count) holds")
        }
        var reasons: Set<HoldReason> = []
        for (index, hold) in draft.holds.enumerated() {
            if !reasons.insert(hold.reason).inserted { return .invalid("\(prefix).holds[\(index)].reason", "duplicate hold reason") }
            if !hold.reason.isClientHold {
                return .invalid("\(prefix).holds[\(index)].reason", "\(hold.reason.name) holds are placed and lifted by Waybill only")
            }
            if let error = checkText(hold.note, field: "\(prefix).holds[\(index)].note", limits: limits) { return error }
        }
        if draft.attributes.count > limits.attributesPerOrderMax {
            return .limit("attributesPerOrderMax", limits.attributesPerOrderMax, field: "\(prefix).attributes", "\(draft.attributes.count) attributes")
        }
        for key in draft.attributes.keys.sorted() {
            if let error = checkIdentifier(key, field: "\(prefix).attributes key", limits: limits) { return error }
            if let error = checkText(draft.attributes[key]!, field: "\(prefix).attributes[\(key)]", limits: limits) { return error }
        }
        return nil
    }
}
