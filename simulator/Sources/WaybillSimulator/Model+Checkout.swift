// Shoppers checking out on a site or an app (scenario `checkout`): they ask GetFulfillmentOptions
// for their cart, some reserve a cart (ReserveCart) for the option they chose, think, and then
// order (the order names the cart: Order.cart_id, so the cart converts) — or leave: their site
// releases the cart, or it expires on the server at its deadline. Each shopper's choices come from
// a random stream of its own (seed, "checkout/<index>/..."), so runs without checkouts draw exactly
// what they drew before. What Waybill reports of carts is read from the change feed (cart.*
// events), as any consumer would; the checks (Checks.swift) judge it.

import WaybillApplication
import WaybillCore
import WaybillProto

/// One cart's GetFulfillmentOptions query.
public struct OptionsAsk: Sendable {
    public var queryID: String
    public var channel: Channel
    public var lines: [DraftLine]
    public var shipTo: Address
    public var pickupLocationIDs: [LocationID]
    public var nearbyPickupStores: Int

    var query: FulfillmentOptionsQuery {
        FulfillmentOptionsQuery(channel: channel, lines: lines, shipTo: shipTo, serviceLevels: [], pickupLocationIDs: pickupLocationIDs,
                                nearbyPickupStores: nearbyPickupStores)
    }
}

/// An option as the shopper sees it.
public struct OptionQuote: Sendable, Equatable {
    public var method: FulfillmentMethod
    public var serviceLevel: ServiceLevel
    public var pickupLocationID: LocationID?
    public var outcome: FulfillmentOptionOutcome
    /// Unix ms of the promised day; 0: nothing would be allocated.
    public var promisedDeliveryAt: Int64

    init(_ option: FulfillmentOption) {
        method = option.method
        serviceLevel = option.serviceLevel
        pickupLocationID = option.pickupLocationID
        outcome = option.outcome
        promisedDeliveryAt = option.promisedDeliveryAt?.millisecondsSinceEpoch ?? 0
    }

    init(proto: Waybill_V1_FulfillmentOption) {
        method = proto.method == .pickup ? .pickup : .ship
        serviceLevel = ServiceLevel(rawValue: proto.serviceLevel.rawValue) ?? .standard
        pickupLocationID = proto.pickupLocationID.isEmpty ? nil : LocationID(proto.pickupLocationID)
        outcome = FulfillmentOptionOutcome(rawValue: proto.outcome.rawValue) ?? .unavailable
        promisedDeliveryAt = proto.promisedDeliveryUnixMs
    }
}

enum CheckoutStep: UInt8, Sendable {
    case reserve, extend, release, capture

    var rpcName: String {
        switch self {
        case .reserve: "ReserveCart"
        case .extend: "ExtendCart"
        case .release: "ReleaseCart"
        case .capture: "CaptureOrder"
        }
    }
}

/// A shopper's checkout: what it will do (drawn at arrival) and what it was shown.
struct CheckoutTrack: Sendable {
    var serviceLevel: UInt8
    var reserves = false
    var abandons = false
    var releases = false
    var extends = false
    var thinkMilliseconds: Int64 = 0
    /// The chosen option's promised day (0: none; -1: no options shown).
    var optionPromise: Int64 = -1
    /// `Gateway.writeMark` and virtual time when the options were answered, the cart reserved, the
    /// order captured: equal marks at the same instant prove Waybill's state unchanged in between.
    var optionMark: UInt64?
    var optionAt: Int64 = 0
    var reserveMark: UInt64?
    var reserveAt: Int64 = 0
    var captureMark: UInt64?
    var captureAt: Int64 = 0
    /// The cart as its last answer showed it.
    var held = false
    var cartPromise: Int64 = 0
    var cartExpiresAt: Int64 = 0
}

/// What the checkouts did, and what Waybill reported of their carts on the feed.
struct CheckoutTally: Sendable {
    var shoppers = 0
    var optionsAsked = 0
    var optionsUnanswered = 0
    var cartsReserved = 0
    var cartsExtended = 0
    var releasesSent = 0
    var shoppersAbandoned = 0
    // From the change feed.
    var cartsConverted = 0
    var cartsExpired = 0
    var cartsReleased = 0
    var cartsShortened = 0
    var convertedAsHeld = 0
    var optionOrderCompared = 0
    var optionOrderAgreed = 0
    var comparisons: [PromiseComparison] = []
    var expiries: [CartExpiryRecord] = []
    /// Every cart's latest state as the feed showed it.
    var cartsOnFeed: [CartKey: Cart] = [:]
}

extension SimulationModel {
    /// The server's default cartExpirySweepIntervalMilliseconds: the in-process sweep runs this
    /// long after a deadline, as the server's would at the latest.
    static let cartSweepIntervalMilliseconds: Int64 = 250

    /// At arrival: whether this shopper checks out first (then the capture is left to the
    /// checkout, and true is returned).
    func beginCheckout(_ index: Int32, serviceLevel: Int) -> Bool {
        let config = scenario.checkout
        guard config.enabled, config.channels.contains(orders[Int(index)].channel.name) else { return false }
        var random = checkoutRandom(index, "flow")
        guard random.chance(config.optionsRate) else { return false }
        var track = CheckoutTrack(serviceLevel: UInt8(serviceLevel))
        track.reserves = random.chance(config.cartRate)
        track.abandons = track.reserves && random.chance(config.abandonmentRate)
        track.releases = track.abandons && random.chance(config.releaseRate)
        let mean = config.thinkMinutes * 60_000
        track.thinkMilliseconds = Int64(Swift.min(random.exponential(mean: mean), 4 * mean)) + 1_000
        let ttl = Int64(config.cartTtlSeconds) * 1_000
        track.extends = track.reserves && !track.abandons && track.thinkMilliseconds > ttl * 8 / 10 && random.chance(config.extendRate)
        orders[Int(index)].checkout = track
        checkoutTally.shoppers += 1
        orders[Int(index)].scheduled += 1
        issue(.options(order: index), .fulfillmentOptions(optionsAsk(index)))
        return true
    }

    func optionsAsk(_ index: Int32) -> OptionsAsk {
        let sim = orders[Int(index)]
        let order = draft(index, serviceLevel: Int(sim.checkout?.serviceLevel ?? 0))
        return OptionsAsk(queryID: externalID(index), channel: sim.channel, lines: order.lines, shipTo: order.shipTo,
                          pickupLocationIDs: sim.pickupStore >= 0 ? [world.locations[Int(sim.pickupStore)].locationID] : [],
                          nearbyPickupStores: scenario.checkout.nearbyPickupStores)
    }

    func cartKey(_ index: Int32) -> CartKey { CartKey(channel: orders[Int(index)].channel, cartID: "cart-\(index)") }

    /// The option the shopper takes: the fulfillment its order will ask for.
    func chosenOption(_ index: Int32, _ quotes: [OptionQuote]) -> OptionQuote? {
        let sim = orders[Int(index)]
        if sim.pickupStore >= 0 {
            let store = world.locations[Int(sim.pickupStore)].locationID
            return quotes.first { $0.method == .pickup && $0.pickupLocationID == store }
        }
        let level = [ServiceLevel.standard, .expedited, .nextDay][Int(sim.checkout?.serviceLevel ?? 0)]
        return quotes.first { $0.method == .ship && $0.serviceLevel == level }
    }

    /// The options came back (nil: never answered): the shopper reserves or thinks.
    func optionsAnswered(_ index: Int32, _ reply: SimReply?, _ call: PendingCall) {
        orders[Int(index)].scheduled -= 1
        guard var track = orders[Int(index)].checkout else { return }
        switch reply {
        case .options(let quotes)?:
            checkoutTally.optionsAsked += 1
            track.optionPromise = chosenOption(index, quotes)?.promisedDeliveryAt ?? 0
            track.optionMark = gateway.writeMark
            track.optionAt = now
        case .failed(let code, let message)?:
            violations.append(Violation(check: "calls_answered_as_expected", detail: "GetFulfillmentOptions of \(externalID(index)) failed: \(code): \(message)"))
        default:
            checkoutTally.optionsUnanswered += 1
        }
        orders[Int(index)].checkout = track
        if track.reserves {
            // Choosing the option reserves the cart at once (the site's "continue to payment").
            orders[Int(index)].checkout!.reserveMark = gateway.writeMark
            orders[Int(index)].checkout!.reserveAt = now
            orders[Int(index)].scheduled += 1
            let order = draft(index, serviceLevel: Int(track.serviceLevel))
            issue(.cart(order: index, step: .reserve),
                  .reserveCart(CartDraft(key: cartKey(index), lines: order.lines, shipTo: order.shipTo, fulfillment: order.fulfillment,
                                         ttlMilliseconds: Int64(scenario.checkout.cartTtlSeconds) * 1_000)))
        } else {
            after(track.thinkMilliseconds, index, .capture)
        }
    }

    private func after(_ delay: Int64, _ index: Int32, _ step: CheckoutStep) {
        orders[Int(index)].scheduled += 1
        queue.schedule(after: delay, priority: 5, .checkout(order: index, step: step))
    }

    /// A cart command came back.
    func cartAnswered(_ index: Int32, _ step: CheckoutStep, _ reply: SimReply, _ call: PendingCall) {
        orders[Int(index)].scheduled -= 1
        guard var track = orders[Int(index)].checkout else { return }
        switch reply {
        case .cart(let cart, _) where step == .reserve || step == .extend:
            if step == .reserve {
                checkoutTally.cartsReserved += 1
                track.held = true
                track.cartPromise = cart.promisedDeliveryAt?.millisecondsSinceEpoch ?? 0
                if track.optionPromise >= 0 {
                    // The reservation routes as the capture would: on unchanged state it holds what the option promised.
                    let provable = !call.timedOut && track.optionMark != nil && track.optionMark == track.reserveMark && track.optionAt == track.reserveAt
                    checkoutTally.comparisons.append(PromiseComparison(kind: .optionToCart, subject: cart.key.description,
                                                                       expected: track.optionPromise, actual: track.cartPromise, provable: provable))
                }
            } else {
                checkoutTally.cartsExtended += 1
            }
            track.cartExpiresAt = cart.expiresAt.millisecondsSinceEpoch
            if cart.status == .active {
                // In-process the sweep runs then; live it bounds the drain's clock jumps (the server sweeps).
                // (At the deadline by Waybill's clock: the model's own time may lag it, live.)
                let deadline = gateway.virtualTime(ofServerTime: track.cartExpiresAt, now: now) + Self.cartSweepIntervalMilliseconds
                queue.schedule(at: Swift.max(now, deadline), priority: 5, .cartDeadline(order: index))
            }
        case .failed(let code, let message):
            if code == "FAILED_PRECONDITION" || code == "RESOURCE_EXHAUSTED" {
                // An extend that came too late (the cart expired first), too many carts open.
                expectedFailures[step.rpcName + " " + code, default: 0] += 1
            } else {
                violations.append(Violation(check: "calls_answered_as_expected", detail: "\(step.rpcName) of cart-\(index) failed: \(code): \(message)"))
            }
        default:
            break
        }
        orders[Int(index)].checkout = track
        guard step == .reserve else { return }
        let ttl = Int64(scenario.checkout.cartTtlSeconds) * 1_000
        if track.abandons {
            orders[Int(index)].state = .abandoned
            checkoutTally.shoppersAbandoned += 1
            if track.releases { after(track.thinkMilliseconds, index, .release) }
        } else {
            if track.extends { after(ttl * 8 / 10, index, .extend) }
            after(track.thinkMilliseconds, index, .capture)
        }
    }

    /// The shopper's next step after thinking.
    func checkoutStep(_ index: Int32, _ step: CheckoutStep) {
        orders[Int(index)].scheduled -= 1
        guard let track = orders[Int(index)].checkout else { return }
        let key = cartKey(index)
        orders[Int(index)].scheduled += 1
        switch step {
        case .capture:
            var order = draft(index, serviceLevel: Int(track.serviceLevel))
            if track.reserves { order.cartID = key.cartID }
            orders[Int(index)].checkout!.captureMark = gateway.writeMark
            orders[Int(index)].checkout!.captureAt = now
            issue(.capture(order: index), .capture(order))
        case .extend:
            issue(.cart(order: index, step: .extend), .extendCart(key, ttlSeconds: Int32(scenario.checkout.cartTtlSeconds)))
        case .release:
            checkoutTally.releasesSent += 1
            issue(.cart(order: index, step: .release), .releaseCart(key))
        case .reserve:
            orders[Int(index)].scheduled -= 1
        }
    }

    /// In-process: the server's sweep at a cart's deadline.
    func cartDeadlinePassed(_ index: Int32) {
        gateway.sweepCarts(at: now)
        drainFeed()
    }

    /// A cart event on the feed.
    func cartObserved(_ cart: Cart, _ event: FeedEvent) {
        if let known = checkoutTally.cartsOnFeed[cart.key], known.version > cart.version {} else { checkoutTally.cartsOnFeed[cart.key] = cart }
        switch event.type {
        case "cart.expired":
            checkoutTally.cartsExpired += 1
            checkoutTally.expiries.append(CartExpiryRecord(cart: cart.key.description, deadline: cart.expiresAt.millisecondsSinceEpoch,
                                                           expiredAt: event.occurredAt))
        case "cart.converted": checkoutTally.cartsConverted += 1
        case "cart.released": checkoutTally.cartsReleased += 1
        case "cart.shortened": checkoutTally.cartsShortened += 1
        default: break
        }
    }

    /// At capture: the order's promise against what the shopper was shown.
    func checkoutCaptured(_ index: Int32, _ order: Order, readBack: Bool) {
        guard let track = orders[Int(index)].checkout else { return }
        let promise = order.fulfillments.map(\.promisedDeliveryAt.millisecondsSinceEpoch).max() ?? 0
        if track.optionPromise >= 0 {
            checkoutTally.optionOrderCompared += 1
            if promise == track.optionPromise { checkoutTally.optionOrderAgreed += 1 }
            let provable = !readBack && track.optionMark != nil && track.optionMark == track.captureMark && track.optionAt == track.captureAt
            checkoutTally.comparisons.append(PromiseComparison(kind: .optionToOrder, subject: order.orderID.rawValue,
                                                               expected: track.optionPromise, actual: promise, provable: provable))
        }
        if let trigger = order.routingDecisions.first?.trigger, trigger.hasPrefix("capture from cart") {
            // Converted as held (the cart unchanged, the same processing day): the cart's promise.
            checkoutTally.convertedAsHeld += 1
            checkoutTally.comparisons.append(PromiseComparison(kind: .cartToOrder, subject: order.orderID.rawValue,
                                                               expected: track.cartPromise, actual: promise, provable: track.held && !readBack))
        }
    }

    /// Live drain: carts past their deadline (by Waybill's clock) the feed has not shown released
    /// yet; the drain waits for the server's sweep before skipping time.
    func cartsPastDeadline(serverNow: Int64) -> Int {
        checkoutTally.cartsOnFeed.values.reduce(0) { $0 + ($1.status == .active && $1.expiresAt.millisecondsSinceEpoch <= serverNow ? 1 : 0) }
    }

    /// The checkout figures of the report (nil when no shopper checked out).
    var checkoutFigures: CheckoutFigures? {
        let t = checkoutTally
        guard t.shoppers > 0 else { return nil }
        return CheckoutFigures(
            shoppers: t.shoppers, optionsAsked: t.optionsAsked, optionsUnanswered: t.optionsUnanswered, cartsReserved: t.cartsReserved,
            cartsExtended: t.cartsExtended, cartsConverted: t.cartsConverted, cartsConvertedAsHeld: t.convertedAsHeld,
            cartsExpired: t.cartsExpired, cartsReleased: t.cartsReleased, cartsShortened: t.cartsShortened,
            shoppersAbandoned: t.shoppersAbandoned,
            conversionRate: round4(t.cartsReserved == 0 ? 0 : Double(t.cartsConverted) / Double(t.cartsReserved)),
            optionOrderPromiseAgreement: round4(t.optionOrderCompared == 0 ? 0 : Double(t.optionOrderAgreed) / Double(t.optionOrderCompared)),
            optionOrderCompared: t.optionOrderCompared,
            promisesComparedOnUnchangedState: t.comparisons.filter(\.provable).count)
    }

    private func checkoutRandom(_ index: Int32, _ purpose: String) -> SimRandom {
        SimRandom(seed: scenario.seed, stream: "checkout/\(index)/\(purpose)")
    }
}
