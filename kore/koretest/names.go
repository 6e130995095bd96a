package koretest

// Task types as the simulator reports them in taskType (kore/API.md §7 taskType).
const (
	TypeDialog = "dialog"
	TypeAlert  = "alert"
	TypeFAQ    = "faq"
)

// TaskInfo is one task of a simulated bot.
type TaskInfo struct {
	Name string // taskName
	Type string // taskType: dialog, alert or faq
}

// namePool is a list of realistic task names with their types.
type namePool []TaskInfo

func dialogs(names ...string) namePool { return typed(TypeDialog, names) }
func alerts(names ...string) namePool  { return typed(TypeAlert, names) }
func faqs(names ...string) namePool    { return typed(TypeFAQ, names) }

func typed(t string, names []string) namePool {
	p := make(namePool, len(names))
	for i, n := range names {
		p[i] = TaskInfo{Name: n, Type: t}
	}
	return p
}

func join(pools ...namePool) namePool {
	var out namePool
	for _, p := range pools {
		out = append(out, p...)
	}
	return out
}

// Domains lists the business domains a simulated bot can have (Bot.Domain).
// Each has its own pool of task names.
var Domains = []string{"airline", "banking", "telecom", "retail", "healthcare", "insurance", "it-helpdesk"}

// domainPools holds each domain's task names. Every bot also gets tasks from
// genericPool, and from a second domain when it needs more tasks than its
// own pool has.
var domainPools = map[string]namePool{
	"airline": join(
		dialogs("Book Flight", "Change Flight", "Cancel Booking", "Check In", "Select Seat", "Add Baggage",
			"Upgrade Seat", "Request Refund", "Check Flight Status", "Book Hotel", "Rent a Car",
			"Update Passport Details", "Join Loyalty Program", "Redeem Miles", "Report Lost Baggage",
			"Request Wheelchair Assistance", "Add Special Meal", "Get Travel Insurance", "Get Boarding Pass",
			"Correct Passenger Name"),
		alerts("Flight Status Alert", "Gate Change Alert", "Flight Delay Notification", "Check-in Reminder",
			"Baggage Delivery Alert", "Fare Drop Alert"),
		faqs("Baggage Allowance", "Pet Travel Policy", "Cancellation Policy", "Carry-on Size Limits",
			"Travelling with Infants", "Visa Requirements", "Lounge Access", "Liquids Rules", "Miles Expiry",
			"Refund Timeline", "Unaccompanied Minors", "Sports Equipment"),
	),
	"banking": join(
		dialogs("Check Balance", "Transfer Funds", "Pay Bill", "Block Card", "Report Lost Card", "Activate Card",
			"Dispute Transaction", "Open Savings Account", "Apply for Loan", "Loan Payoff Quote",
			"Order Cheque Book", "Update Address", "Set Travel Notice", "Change PIN", "Increase Credit Limit",
			"Stop Payment", "Book Branch Appointment", "Download Statement", "Add Payee", "Set Up Direct Deposit"),
		alerts("Low Balance Alert", "Large Transaction Alert", "Payment Due Reminder", "Suspicious Activity Alert",
			"Salary Credited Alert", "Card Expiry Reminder"),
		faqs("Branch Hours", "Routing Number", "Wire Transfer Fees", "Overdraft Policy", "Interest Rates",
			"ATM Withdrawal Limits", "Mobile Deposit Limits", "Foreign Transaction Fees", "Account Closure",
			"Deposit Insurance", "Credit Score Impact"),
	),
	"telecom": join(
		dialogs("Pay My Bill", "Upgrade Plan", "Add Data Pack", "Activate SIM", "Port My Number", "Report Outage",
			"Troubleshoot Internet", "Reset Router", "Schedule Technician Visit", "Enable International Roaming",
			"Cancel Subscription", "Track Device Order", "Change Plan", "Unlock Device", "Replace SIM",
			"Set Up Voicemail", "Return Device", "Suspend Line"),
		alerts("Data Usage Alert", "Bill Ready Notification", "Outage Update", "Plan Renewal Reminder",
			"Roaming Activated Alert"),
		faqs("Roaming Rates", "5G Coverage", "Contract Terms", "Early Termination Fee", "Device Warranty",
			"Hotspot Usage", "Family Plan Rules", "eSIM Compatibility", "Late Payment Fee", "Fair Usage Policy"),
	),
	"retail": join(
		dialogs("Track Order", "Return an Item", "Exchange Item", "Cancel Order", "Find a Store",
			"Check Product Availability", "Apply Promo Code", "Update Payment Method", "Check Gift Card Balance",
			"Redeem Loyalty Points", "Schedule Delivery", "Report Damaged Item", "Request Price Match",
			"Create Account", "Book Personal Shopper", "Change Delivery Address"),
		alerts("Order Shipped Alert", "Delivery Delay Alert", "Back in Stock Alert", "Price Drop Alert",
			"Refund Processed Notification"),
		faqs("Return Policy", "Shipping Options", "International Shipping", "Size Guide", "Warranty Coverage",
			"Payment Methods", "Gift Wrapping", "Store Hours", "Click and Collect", "Price Adjustment Policy"),
	),
	"healthcare": join(
		dialogs("Book Appointment", "Reschedule Appointment", "Cancel Appointment", "Refill Prescription",
			"Find a Doctor", "Check Symptoms", "Request Medical Records", "Pay Medical Bill", "Verify Insurance",
			"Get Lab Results", "Start Virtual Visit", "Update Insurance Details", "Register New Patient",
			"Request Referral"),
		alerts("Appointment Reminder", "Prescription Ready Alert", "Lab Results Available", "Vaccination Reminder"),
		faqs("Visiting Hours", "Accepted Insurance Plans", "Parking Information", "Testing Locations",
			"Patient Portal Help", "Billing Questions", "Telehealth Requirements", "Urgent Care or ER",
			"Medical Records Fees"),
	),
	"insurance": join(
		dialogs("File a Claim", "Check Claim Status", "Get a Quote", "Renew Policy", "Add Driver", "Update Vehicle",
			"Request ID Card", "Cancel Policy", "Change Coverage", "Make a Payment", "Request Roadside Assistance",
			"Report Accident", "Upload Claim Documents", "Add Home Coverage"),
		alerts("Policy Renewal Reminder", "Claim Update Alert", "Payment Failed Alert", "Premium Due Reminder"),
		faqs("Deductible Explained", "What Is Covered", "Claim Documents Needed", "Grace Period",
			"No-Claim Bonus", "Windshield Coverage", "Rental Car Coverage"),
	),
	"it-helpdesk": join(
		dialogs("Reset Password", "Unlock Account", "Request Software", "Report an Incident", "Check Ticket Status",
			"Request Laptop", "Set Up VPN", "Request Leave", "Check Leave Balance", "Update Bank Details",
			"Enroll in Benefits", "Submit Expense Report", "Book Meeting Room", "Request Access",
			"Onboard New Hire", "Set Up MFA"),
		alerts("Password Expiry Reminder", "Ticket Resolved Notification", "System Maintenance Alert",
			"Leave Approved Alert", "Timesheet Reminder"),
		faqs("Holiday Calendar", "Remote Work Policy", "VPN Setup Guide", "Expense Policy",
			"Benefits Enrollment Window", "Payroll Dates", "Travel Policy", "Guest Wi-Fi Access"),
	),
}

// genericPool holds tasks any customer-facing bot has.
var genericPool = join(
	dialogs("Talk to an Agent", "Update Contact Details", "Give Feedback", "Change Language", "Verify Identity",
		"Unsubscribe from Messages"),
	alerts("Satisfaction Survey Invitation"),
	faqs("Contact Us", "Business Hours", "Privacy Policy", "Terms and Conditions", "Accessibility Support"),
)

// maxTasks is the largest task count a bot can have: a domain, the generic
// pool and a second domain.
const maxTasks = 60
