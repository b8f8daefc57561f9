"""Sample article texts for the alerts tests (not a test module)."""

WIRE_TEXT = (
    "Singapore prosecutors on Thursday charged three men with fraud over the sale of servers that may have "
    "contained Nvidia chips, in a case that investigators say involved routing restricted hardware to China. "
    "The three, two Singaporeans and a Chinese national, are accused of lying to suppliers Dell and Super Micro "
    "about the end users of the servers. Officials said the equipment was shipped from Singapore to Malaysia and "
    "may have ended up with buyers in China, in breach of US export controls. If convicted, the men face up to "
    "20 years in prison. Nvidia said it requires its partners to comply with all applicable export laws. The "
    "case has raised questions about Singapore's role as a transit hub for advanced AI hardware."
)
WIRE_SENTENCES = [
    "Officials said the equipment was shipped from Singapore to Malaysia and may have ended up with buyers in "
    "China, in breach of US export controls.",
]
REWRITE_TEXT = (
    "Three men appeared in a Singapore court on Thursday accused of fraud in connection with servers bought from "
    "Dell and Super Micro that authorities believe were diverted to China. Prosecutors say the men misrepresented "
    "who the end users of the servers would be. The machines, which may have held Nvidia processors subject to US "
    "export controls, were moved from Singapore to Malaysia, officials said. Singapore said it would not allow "
    "itself to be used to circumvent other countries' export controls. Each of the three men faces up to 20 years "
    "in prison if found guilty of fraud. Nvidia said it expects partners to follow export laws."
)
REWRITE_SENTENCES = [
    "Dell and Super Micro servers that authorities believe were diverted to China were moved from Singapore to "
    "Malaysia, officials said.",
]
OTHER_EVENT_TEXT = (
    "The US Commerce Department has revoked a licence that allowed Nvidia to sell its H20 artificial intelligence "
    "chips to customers in China, the company said in a filing on Wednesday. Nvidia said the decision would lead "
    "to a charge of about 5.5 billion dollars on inventory and purchase commitments. The H20 was designed to comply "
    "with earlier export controls and had become Nvidia's best-selling chip in China. Officials said the licence "
    "requirement would remain in place indefinitely. Analysts said Chinese cloud companies had stockpiled H20 "
    "chips ahead of the decision to get around the export controls. Nvidia shares fell in after-hours trading."
)
OTHER_EVENT_SENTENCES = [
    "Analysts said Chinese cloud companies had stockpiled H20 chips ahead of the decision to get around the "
    "export controls.",
]
SMUGGLING_ORGS = ["Nvidia", "Dell", "Super Micro"]
SMUGGLING_COUNTRIES = ["Singapore", "Malaysia", "China", "United States"]
