"""Original snippets for finfeed's demo feed (written for finfeed; figures invented).

Each entry: (source, text, tickers or None). ``compose_sample_feed.py`` assigns ids,
times, reprints, near-duplicates and malformed lines.
"""

from __future__ import annotations

T = tuple[str, str, list[str] | str | None]

STORIES: list[T] = [
    # --- Apple
    (
        "reuters",
        "Apple reported fiscal fourth-quarter revenue of $97.2 billion, up 7% from a year earlier, as iPhone sales in Greater China returned to growth and services revenue reached a record $29.1 billion. Chief executive Tim Cook said he expects December-quarter revenue to grow 10% to 12%.",
        None,
    ),
    (
        "bloomberg",
        "Apple is preparing to launch a lower-cost MacBook built around an iPhone-class chip in the first half of next year, according to people familiar with the plans, as it tries to win students and first-time buyers from Chromebooks.",
        None,
    ),
    (
        "twitter",
        "$AAPL services margin at 75% is absurd. This is a software company that happens to sell phones.",
        "AAPL",
    ),
    (
        "seekingalpha",
        "Apple trades at 31 times forward earnings, a premium we think is hard to justify with iPhone unit growth in the low single digits. We rate the shares hold with a $240 target.",
        None,
    ),
    (
        "reuters",
        "The European Commission fined Apple 500 million euros for preventing app developers from steering users to cheaper offers outside the App Store, the first penalty under the Digital Markets Act.",
        ["AAPL"],
    ),
    (
        "company-ir",
        "Apple announced today that its board of directors has declared a cash dividend of $0.26 per share of the Company's common stock, payable on November 13 to shareholders of record as of the close of business on November 10.",
        None,
    ),
    (
        "twitter",
        "Apple Vision Pro sales reportedly tracking well below internal plans. Cheaper headset pushed to 2027?",
        None,
    ),
    (
        "bloomberg",
        "Apple supplier Foxconn said October revenue rose 11% from a year earlier on strong demand for AI servers, while sales of consumer electronics including iPhones were roughly flat.",
        None,
    ),
    (
        "seekingalpha",
        "We expect Apple to return more than $110 billion to shareholders next year through buybacks and dividends, supporting earnings per share growth even if revenue growth slows.",
        "AAPL",
    ),
    (
        "reuters",
        "Apple shares slipped 1.4% on Wednesday after a report that the company had cut production orders for the iPhone Air by about a third because of weak demand.",
        None,
    ),
    # --- Microsoft
    (
        "reuters",
        "Microsoft said revenue at its Azure cloud business grew 39% in the September quarter, above analyst estimates, and that it would increase capital spending further this fiscal year to add capacity for AI workloads it cannot yet serve.",
        None,
    ),
    (
        "bloomberg",
        "Microsoft will raise prices for Microsoft 365 commercial subscriptions by as much as 20% starting next July, citing the addition of Copilot features to its standard business plans.",
        ["MSFT"],
    ),
    (
        "twitter",
        "MSFT capex guide is enormous. Street wanted discipline and got the opposite. Still, Azure at +39% covers a lot of sins.",
        "MSFT",
    ),
    (
        "seekingalpha",
        "Microsoft's commercial remaining performance obligation rose 51% to $392 billion, which gives us confidence in double-digit revenue growth through fiscal 2028. Reiterate buy.",
        None,
    ),
    (
        "reuters",
        "Microsoft agreed to invest $15.2 billion in the United Arab Emirates through 2029, including data-center construction and a stake in a local AI company, the company said on Monday.",
        None,
    ),
    (
        "company-ir",
        "Microsoft Corporation today announced that its board of directors declared a quarterly dividend of $0.91 per share, a 10% increase over the previous quarter's dividend.",
        None,
    ),
    (
        "bloomberg",
        "Microsoft's gaming revenue fell 2% in the quarter as hardware sales dropped 22%, though content and services revenue from Game Pass rose modestly.",
        None,
    ),
    (
        "reuters",
        "Microsoft said it had reached a new agreement with OpenAI that gives it a roughly 27% stake in the restructured company and extends its access to OpenAI models through 2032.",
        ["MSFT"],
    ),
    # --- Tesla
    (
        "reuters",
        "Tesla reported third-quarter revenue of $28.1 billion, up 12% from a year earlier, as buyers in the United States rushed to claim an expiring federal tax credit, but operating margin narrowed to 5.8% as tariffs and restructuring costs rose.",
        None,
    ),
    (
        "bloomberg",
        "Tesla shareholders approved a compensation plan for Elon Musk that could award him shares worth as much as $1 trillion if the company reaches a market value of $8.5 trillion and hits a series of operational targets over the next decade.",
        None,
    ),
    (
        "twitter",
        "$TSLA robotaxi expansion to 8 more cities by year end per Musk. Saying it is one thing...",
        "TSLA",
    ),
    (
        "seekingalpha",
        "We expect Tesla's automotive gross margin excluding credits to fall below 15% next year as the tax credit pull-forward reverses and cheaper trims dilute pricing. Underweight.",
        None,
    ),
    (
        "reuters",
        "Tesla's sales in Europe fell for a tenth straight month in October, dropping 48% in France and 30% in Germany, even as overall electric vehicle registrations in the region rose.",
        None,
    ),
    (
        "bloomberg",
        "Tesla is recalling about 13,000 Model 3 and Model Y vehicles in the United States because a battery pack defect could cause a sudden loss of drive power, according to a filing with the safety regulator.",
        ["TSLA"],
    ),
    (
        "twitter",
        "Tesla energy storage deployments hit a record 12.5 GWh. That business is quietly becoming huge.",
        None,
    ),
    (
        "reuters",
        "Tesla said it expects to begin volume production of its Cybercab robotaxi in the second quarter of next year at its Texas factory, and that its Semi truck would enter production in late 2026.",
        None,
    ),
    (
        "seekingalpha",
        "Tesla is priced for perfection on autonomy; a single regulatory setback in robotaxi deployment could take 30% off the shares. We see better risk-reward elsewhere in autos.",
        None,
    ),
    # --- Nvidia
    (
        "reuters",
        "Nvidia forecast fourth-quarter revenue of about $65 billion, plus or minus 2%, above analysts' estimates, as demand for its Blackwell chips from cloud providers and AI labs continued to exceed supply.",
        None,
    ),
    (
        "bloomberg",
        "Nvidia became the first company to close with a market value above $5 trillion on Wednesday, after chief executive Jensen Huang said the company had $500 billion in orders for its AI chips through the end of next year.",
        ["NVDA"],
    ),
    (
        "twitter",
        "$NVDA gross margin guide 75% +/- 50bp. Pricing power intact. Nothing else matters.",
        "NVDA",
    ),
    (
        "seekingalpha",
        "We think Nvidia's data-center revenue can reach $300 billion in fiscal 2028 as sovereign AI projects add to hyperscaler demand. Raising target to $250.",
        None,
    ),
    (
        "reuters",
        "Nvidia said it would invest $1 billion in Nokia and take a stake of about 2.9% in the Finnish telecom equipment maker as the two companies work on AI-native mobile networks.",
        None,
    ),
    (
        "bloomberg",
        "U.S. officials are weighing whether to let Nvidia sell a scaled-down version of its Blackwell chip to customers in China, a decision that could restore billions of dollars in annual sales.",
        None,
    ),
    (
        "twitter",
        "Everyone is long NVDA into earnings. Positioning is the risk, not fundamentals.",
        None,
    ),
    (
        "reuters",
        "Shares of Nvidia fell 3.2% on Tuesday after a report that Meta Platforms is in talks to use Google's tensor processing units in its data centers from 2027.",
        None,
    ),
    # --- Amazon
    (
        "reuters",
        "Amazon said Amazon Web Services revenue grew 20% to $33 billion in the third quarter, its fastest growth since 2022, and forecast fourth-quarter operating income of $21 billion to $26 billion, above estimates.",
        None,
    ),
    (
        "bloomberg",
        "Amazon plans to cut about 14,000 corporate jobs as it reduces layers of management and redirects spending toward artificial intelligence, the company told employees on Tuesday.",
        ["AMZN"],
    ),
    (
        "twitter",
        "AMZN +10% after hours. AWS reaccelerating was the whole bear case, and it just died.",
        "AMZN",
    ),
    (
        "seekingalpha",
        "Amazon's advertising business grew 24% and is now larger than most media companies. We expect it to contribute more operating income than retail in North America by 2027.",
        None,
    ),
    (
        "reuters",
        "Amazon signed a $38 billion, seven-year agreement to provide OpenAI with cloud computing capacity, including hundreds of thousands of Nvidia chips, the companies said on Monday.",
        None,
    ),
    (
        "company-ir",
        "Amazon today announced it will hire 250,000 full-time, part-time and seasonal employees across its U.S. operations network for the holiday season, with average pay of more than $23 an hour.",
        None,
    ),
    (
        "reuters",
        "A large outage at Amazon Web Services disrupted thousands of websites and apps for several hours on Monday, knocking out services from banks to gaming platforms before it was resolved.",
        ["AMZN"],
    ),
    (
        "bloomberg",
        "Amazon expects capital expenditure of about $125 billion this year and more next year, chief financial officer Brian Olsavsky told analysts, as it builds data centers and custom chips.",
        None,
    ),
    # --- Alphabet
    (
        "reuters",
        "Alphabet reported its first $100 billion quarter as revenue rose 16% to $102.3 billion, driven by growth in Google Cloud and search advertising, and raised its forecast for capital expenditure this year to $91 billion to $93 billion.",
        None,
    ),
    (
        "bloomberg",
        "Google Cloud's backlog of contracted revenue rose to $155 billion at the end of the quarter, up 46% from the prior quarter, as enterprises signed multi-year AI deals.",
        ["GOOGL"],
    ),
    ("twitter", "$GOOGL search revenue +15%. So much for AI killing Google search.", "GOOGL,GOOG"),
    (
        "seekingalpha",
        "We believe Alphabet remains the cheapest AI platform among the megacaps at 24 times earnings, with Waymo and TPUs as free options. Buy.",
        None,
    ),
    (
        "reuters",
        "A U.S. judge said she would rule on remedies in the Justice Department's ad-tech antitrust case against Google early next year after closing arguments in which the government asked for a divestiture of the AdX exchange.",
        None,
    ),
    (
        "bloomberg",
        "Waymo will begin fully driverless rides in Miami, Dallas, Houston, San Antonio and Orlando next year, Alphabet's self-driving unit said, expanding beyond its current five cities.",
        None,
    ),
    (
        "reuters",
        "Alphabet raised $25 billion in a bond sale split between the U.S. and European markets to help fund its spending on artificial intelligence infrastructure.",
        None,
    ),
    ("twitter", "Gemini 3 benchmarks look very strong. Google quietly back in the lead?", None),
    # --- Meta
    (
        "reuters",
        "Meta Platforms forecast fourth-quarter revenue of $56 billion to $59 billion, above estimates, but said capital expenditures would be notably larger next year and expenses would grow significantly faster, sending its shares down 11%.",
        None,
    ),
    (
        "bloomberg",
        "Meta recorded a one-time tax charge of $15.9 billion in the third quarter related to the new U.S. tax law, which cut its reported earnings per share to $1.05.",
        ["META"],
    ),
    (
        "twitter",
        "META spending like there's no tomorrow. Zuck wants superintelligence, shareholders want free cash flow.",
        None,
    ),
    (
        "seekingalpha",
        "We see Meta's core advertising business growing more than 20% next year as AI-driven ad ranking lifts conversion rates, which should fund the capex cycle. Outperform.",
        None,
    ),
    (
        "reuters",
        "Meta agreed to a $27 billion financing deal with Blue Owl Capital for its Hyperion data center in Louisiana, keeping the debt off its balance sheet.",
        None,
    ),
    (
        "bloomberg",
        "Meta will cut about 600 jobs in its artificial intelligence unit, including some in its long-running research lab, as it streamlines teams working on superintelligence.",
        None,
    ),
    (
        "reuters",
        "Meta said daily active users across its family of apps reached 3.54 billion in September, up 8% from a year earlier.",
        ["META"],
    ),
    # --- JPMorgan
    (
        "reuters",
        "JPMorgan Chase reported a 12% increase in third-quarter profit to $14.4 billion as markets revenue hit a record and investment-banking fees rose 16%, and it raised its full-year net interest income forecast to about $92 billion.",
        None,
    ),
    (
        "bloomberg",
        "JPMorgan chief executive Jamie Dimon said he was worried about more cockroaches in the credit market after the collapses of an auto lender and a parts supplier, and that the bank had taken a $170 million charge.",
        None,
    ),
    ("twitter", "$JPM charge-offs in card ticking higher. Consumer is fine until it isn't.", "JPM"),
    (
        "seekingalpha",
        "JPMorgan deserves its premium valuation: 20% return on tangible equity through the cycle. We would add on any pullback below $290.",
        None,
    ),
    (
        "reuters",
        "JPMorgan launched a $1.5 trillion initiative to finance industries it considers critical to U.S. national security and economic resilience, including defense, energy and advanced manufacturing.",
        ["JPM"],
    ),
    (
        "company-ir",
        "JPMorgan Chase & Co. announced that its Board of Directors has declared a quarterly dividend of $1.50 per share on the outstanding shares of the common stock.",
        None,
    ),
    (
        "bloomberg",
        "JPMorgan plans to let institutional clients use bitcoin and ether as collateral for loans by the end of the year, according to people familiar with the matter.",
        None,
    ),
    # --- Exxon
    (
        "reuters",
        "Exxon Mobil reported third-quarter earnings of $7.5 billion, down from a year ago on lower crude prices, but beat estimates as production from Guyana and the Permian Basin reached a record 4.8 million barrels of oil equivalent a day.",
        None,
    ),
    (
        "bloomberg",
        "Exxon Mobil said it would cut about 2,000 jobs worldwide, including 700 in Europe, as part of a restructuring to lower costs and consolidate offices.",
        ["XOM"],
    ),
    ("twitter", "XOM buybacks $20B/yr at $60 oil. The cash machine keeps running.", "XOM"),
    (
        "seekingalpha",
        "Exxon's Pioneer integration is delivering synergies faster than planned; we now expect $4 billion a year by 2027. Maintain overweight.",
        None,
    ),
    (
        "reuters",
        "Exxon Mobil said it had paused plans for a large hydrogen plant at its Baytown, Texas refinery because customers were unwilling to commit to buying low-carbon hydrogen at the required price.",
        None,
    ),
    (
        "bloomberg",
        "Exxon Mobil expects its production in Guyana to reach 1.7 million barrels a day by 2030 after a new floating production vessel came online ahead of schedule.",
        None,
    ),
    (
        "reuters",
        "Oil prices fell 2% on Thursday, weighing on Exxon Mobil and Chevron shares, after OPEC+ agreed to raise output again in December.",
        ["XOM", "CVX"],
    ),
    # --- Pfizer
    (
        "reuters",
        "Pfizer raised the low end of its full-year profit forecast after third-quarter results beat estimates, helped by cost cuts and steady sales of its cancer drugs, even as COVID-19 product revenue declined further.",
        None,
    ),
    (
        "bloomberg",
        "Pfizer won a bidding war for obesity drug developer Metsera with an offer worth up to $10 billion including contingent payments, after Novo Nordisk dropped its rival bid.",
        ["PFE"],
    ),
    (
        "twitter",
        "$PFE finally has an obesity story. Paid up for it, but better late than never.",
        "PFE",
    ),
    (
        "seekingalpha",
        "Pfizer faces about $17 billion of revenue at risk from patent expirations between 2026 and 2028. We think the dividend is safe but see little upside. Neutral.",
        None,
    ),
    (
        "reuters",
        "Pfizer reached an agreement with the U.S. government to lower prices for some medicines sold through Medicaid in exchange for a three-year grace period on pharmaceutical tariffs.",
        None,
    ),
    (
        "bloomberg",
        "Pfizer's experimental lung cancer drug cut the risk of disease progression by 40% in a late-stage trial, the company said, and it plans to seek approval next year.",
        None,
    ),
    (
        "company-ir",
        "Pfizer Inc. announced today that the U.S. Food and Drug Administration has approved an expanded indication for its RSV vaccine for adults aged 18 to 59 at increased risk of severe disease.",
        None,
    ),
    # --- Walmart
    (
        "reuters",
        "Walmart raised its full-year sales and profit forecast on Thursday as higher-income shoppers spent more of their budgets at its stores and its e-commerce business turned a profit, and U.S. comparable sales rose 4.5%.",
        None,
    ),
    (
        "bloomberg",
        "Walmart chief executive Doug McMillon will retire at the end of January and be succeeded by John Furner, who runs the retailer's U.S. business, the company said.",
        ["WMT"],
    ),
    (
        "twitter",
        "$WMT e-commerce profitable for a second quarter. Amazon should be nervous.",
        "WMT",
    ),
    (
        "seekingalpha",
        "Walmart's advertising and membership income now account for a third of operating income growth; we expect margins to expand 20 basis points a year through 2028. Buy.",
        None,
    ),
    (
        "reuters",
        "Walmart will move its stock listing from the New York Stock Exchange to the Nasdaq next month, saying the exchange better fits its focus on technology and automation.",
        None,
    ),
    (
        "bloomberg",
        "Walmart said it would keep prices on its Thanksgiving meal basket below last year's level despite tariffs on imported goods, serving ten people for less than $40.",
        None,
    ),
    (
        "company-ir",
        "Walmart Inc. announced a partnership with OpenAI that will let customers shop its assortment directly through ChatGPT using Instant Checkout.",
        None,
    ),
    # --- Boeing
    (
        "reuters",
        "Boeing reported a third-quarter loss of $5.4 billion after taking a $4.9 billion charge on its delayed 777X program, which it now expects to deliver first in 2027, a year later than planned.",
        None,
    ),
    (
        "bloomberg",
        "The Federal Aviation Administration approved Boeing's request to raise 737 MAX production to 42 jets a month, lifting a cap imposed after a door panel blew off a jet in January 2024.",
        ["BA"],
    ),
    ("twitter", "$BA another 777X charge. At some point that program has to stop bleeding.", "BA"),
    (
        "seekingalpha",
        "We expect Boeing to turn free cash flow positive in the fourth quarter for the first time since 2023 as deliveries climb above 50 a month. Upgrade to buy.",
        None,
    ),
    (
        "reuters",
        "Boeing delivered 53 commercial jets in October, including 45 737 MAX planes, its highest October total since 2018.",
        None,
    ),
    (
        "bloomberg",
        "Boeing defense workers in St. Louis voted to end a three-month strike after accepting a contract with a 24% wage increase over five years.",
        None,
    ),
    (
        "reuters",
        "Boeing shares rose 4% on Monday after Turkish Airlines firmed an order for 50 787 Dreamliners with options for 25 more.",
        None,
    ),
    # --- Netflix
    (
        "reuters",
        "Netflix shares fell 10% after third-quarter earnings missed estimates because of a $619 million charge related to a tax dispute in Brazil, though revenue rose 17% to $11.5 billion.",
        None,
    ),
    (
        "bloomberg",
        "Netflix announced a ten-for-one stock split, saying it wanted to make shares more accessible to employees who participate in its stock option program.",
        ["NFLX"],
    ),
    (
        "twitter",
        "NFLX ads business expected to double again next year. Quietly the best media company by a mile.",
        None,
    ),
    (
        "seekingalpha",
        "We expect Netflix revenue of $51 billion next year and an operating margin of 31%, driven by ads and price increases. The Brazil charge is a one-off.",
        None,
    ),
    (
        "reuters",
        "Netflix is exploring a bid for Warner Bros Discovery's studios and streaming business and has hired advisers, according to people familiar with the matter.",
        ["NFLX"],
    ),
    (
        "bloomberg",
        "Netflix will open permanent entertainment venues called Netflix House in Philadelphia and Dallas in November and December, with restaurants and experiences based on its series.",
        None,
    ),
    # --- AMD
    (
        "reuters",
        "Advanced Micro Devices forecast fourth-quarter revenue of about $9.6 billion, above estimates, as demand for its data-center processors and AI chips grew, and said data-center revenue rose 22% in the third quarter.",
        None,
    ),
    (
        "bloomberg",
        "AMD agreed to supply OpenAI with chips for six gigawatts of computing capacity in a multiyear deal, and gave OpenAI warrants to buy up to 160 million AMD shares as deployment milestones are met.",
        ["AMD"],
    ),
    (
        "twitter",
        "$AMD analyst day: says data center AI revenue CAGR > 80% over next 3-5 years. Bold.",
        "AMD",
    ),
    (
        "seekingalpha",
        "AMD's MI450 could take 10% of the AI accelerator market by 2027; we raise our target to $300 and see more upside if the OpenAI deployment goes smoothly.",
        None,
    ),
    (
        "reuters",
        "AMD said it expects revenue to grow more than 35% a year on average over the next three to five years and earnings per share to exceed $20 in that period.",
        None,
    ),
    (
        "bloomberg",
        "AMD shares fell 4% on Friday as investors questioned whether the company could secure enough advanced packaging capacity from TSMC to meet its AI chip targets.",
        None,
    ),
    # --- Intel
    (
        "reuters",
        "Intel reported third-quarter revenue of $13.7 billion, above estimates, and a return to profit after cost cuts, but forecast fourth-quarter revenue slightly below expectations because of supply shortages.",
        None,
    ),
    (
        "bloomberg",
        "Intel said it had sold 51% of its Altera programmable chip unit to Silver Lake, valuing the business at $8.75 billion.",
        ["INTC"],
    ),
    (
        "twitter",
        "$INTC up 80% this year on government + Nvidia + SoftBank money. Fundamentals haven't caught up.",
        "INTC",
    ),
    (
        "seekingalpha",
        "Intel's 18A process still yields below the level needed for a profitable foundry business; we do not expect external foundry revenue to matter before 2028. Sell.",
        None,
    ),
    (
        "reuters",
        "Intel's chief financial officer said shortages of older chips would last into the first quarter of next year, as the company prioritised production of server processors.",
        None,
    ),
    (
        "bloomberg",
        "Intel is in early talks to add AMD as a customer for its foundry business, according to people familiar with the discussions.",
        None,
    ),
    # --- others: Chevron, Coca-Cola, Disney, Bank of America, Goldman, Costco, Nike, Starbucks, Eli Lilly, UnitedHealth, Visa, Oracle, Broadcom, Salesforce, Ford, GM, Uber, Palantir, McDonald's, Berkshire
    (
        "reuters",
        "Chevron reported higher-than-expected third-quarter earnings as output rose to a record 4.1 million barrels of oil equivalent a day following its acquisition of Hess, and kept its share buyback at $2.5 billion to $3 billion a quarter.",
        None,
    ),
    (
        "bloomberg",
        "Chevron plans to cut operating costs by $3 billion to $4 billion by the end of next year and increase free cash flow by more than 10% a year through 2030 at $70 oil, the company said at its investor day.",
        ["CVX"],
    ),
    (
        "reuters",
        "Coca-Cola reported better-than-expected third-quarter results as prices rose and demand for Coke Zero Sugar grew, and said it expects to hit its full-year organic revenue growth target of 5% to 6%.",
        None,
    ),
    (
        "twitter",
        "$KO boring, steady, beats again. The dividend aristocrat does dividend aristocrat things.",
        "KO",
    ),
    (
        "reuters",
        "Walt Disney forecast double-digit growth in adjusted earnings per share for the next two fiscal years and doubled its planned stock buyback to $7 billion, while its theme park business posted record quarterly revenue.",
        None,
    ),
    (
        "bloomberg",
        "Disney's channels went dark on YouTube TV for two weeks in a carriage dispute before the companies reached a new agreement, costing Disney an estimated $30 million a week in fees.",
        ["DIS"],
    ),
    (
        "reuters",
        "Bank of America said it expects net interest income to grow 5% to 7% next year and set a target return on tangible common equity of 16% to 18%, sending its shares up 5% on its investor day.",
        None,
    ),
    (
        "seekingalpha",
        "Bank of America is the best-positioned large bank for falling deposit costs; we expect earnings per share to grow 15% next year. Buy.",
        "BAC",
    ),
    (
        "reuters",
        "Goldman Sachs reported a 37% rise in third-quarter profit as dealmaking revenue jumped 42% and its equity traders had their second-best quarter ever.",
        None,
    ),
    (
        "bloomberg",
        "Goldman Sachs agreed to buy venture capital firm Industry Ventures for up to $965 million as it expands its alternative asset management business.",
        ["GS"],
    ),
    (
        "reuters",
        "Costco reported October net sales of $21.8 billion, up 8.6% from a year earlier, with comparable sales excluding gasoline and currency effects up 6.6%.",
        None,
    ),
    (
        "twitter",
        "$COST comps strong as always. The stock at 50x earnings is the only problem.",
        "COST",
    ),
    (
        "reuters",
        "Nike said revenue rose 1% in its fiscal first quarter, ending four straight quarters of declines, but warned that tariffs would cost it about $1.5 billion this year and that sales in China would fall again.",
        None,
    ),
    (
        "bloomberg",
        "Starbucks will close about 1% of its North American stores and cut 900 corporate jobs as part of a $1 billion restructuring plan led by chief executive Brian Niccol.",
        ["SBUX"],
    ),
    (
        "reuters",
        "Eli Lilly raised its full-year revenue forecast to $63 billion to $63.5 billion after sales of its weight-loss drug Zepbound and diabetes drug Mounjaro beat estimates, sending its shares up 4%.",
        None,
    ),
    (
        "bloomberg",
        "Eli Lilly became the first drugmaker to reach a market value of $1 trillion after investors bet that its experimental obesity pill will win approval next year.",
        ["LLY"],
    ),
    (
        "reuters",
        "UnitedHealth Group raised its 2025 profit forecast and said it expects earnings to grow next year after a difficult stretch of rising medical costs, sending its shares up 3%.",
        None,
    ),
    (
        "seekingalpha",
        "UnitedHealth's Medicare Advantage repricing should restore margins by 2027, but the Justice Department investigation remains an overhang. Hold.",
        "UNH",
    ),
    (
        "reuters",
        "Visa reported a 12% rise in fiscal fourth-quarter net revenue as cross-border travel spending rose, and forecast low-double-digit revenue growth in fiscal 2026.",
        None,
    ),
    (
        "reuters",
        "Oracle shares fell 6% after the company said its capital spending would reach $35 billion this fiscal year to build data centers for OpenAI and other customers, raising concerns about its rising debt.",
        None,
    ),
    (
        "bloomberg",
        "Oracle's remaining performance obligations rose to $455 billion, up 359% from a year earlier, after it signed several multibillion-dollar cloud contracts with AI companies.",
        ["ORCL"],
    ),
    (
        "reuters",
        "Broadcom said it had won a fourth major customer for its custom AI chips with orders of more than $10 billion, and forecast AI semiconductor revenue of $6.2 billion for the fourth quarter.",
        None,
    ),
    (
        "twitter",
        "$AVGO custom silicon is the real AI picks and shovels. Everyone builds their own TPU now.",
        "AVGO",
    ),
    (
        "reuters",
        "Salesforce forecast fiscal 2030 revenue of more than $60 billion, above analyst estimates, citing demand for its Agentforce AI agent platform, and its shares rose 5% in extended trading.",
        None,
    ),
    (
        "bloomberg",
        "Ford said a fire at an aluminum supplier's plant in New York would reduce its operating profit by $1.5 billion to $2 billion this year, and cut its full-year outlook.",
        ["F"],
    ),
    (
        "reuters",
        "General Motors raised its full-year profit forecast and said tariff costs would be lower than expected, sending its shares up 14% in their biggest one-day gain in five years.",
        None,
    ),
    (
        "twitter",
        "GM crushing it while Ford can't catch a break. Same industry, very different year.",
        "GM,F",
    ),
    (
        "reuters",
        "Uber reported gross bookings growth of 21% in the third quarter and forecast fourth-quarter bookings above estimates, as trips on its platform rose 22%.",
        None,
    ),
    (
        "bloomberg",
        "Palantir raised its full-year revenue forecast to $4.4 billion as U.S. commercial revenue more than doubled, but its shares fell 8% on concerns about its valuation.",
        ["PLTR"],
    ),
    ("twitter", "PLTR at 200x sales. Incredible company, insane stock. Both can be true.", None),
    (
        "reuters",
        "McDonald's reported global comparable sales growth of 3.6% in the third quarter, helped by value meals and promotions, but said low-income customers in the United States continued to cut back on visits.",
        None,
    ),
    (
        "bloomberg",
        "Berkshire Hathaway's cash pile rose to a record $382 billion at the end of September as the company sold stocks for a twelfth straight quarter and did not buy back any of its own shares.",
        ["BRK.B"],
    ),
    # --- more Apple/Microsoft/Tesla/Nvidia/Amazon items (the most covered names get the most snippets)
    (
        "bloomberg",
        "Apple is testing a foldable iPhone with suppliers and plans to release it in the fall of 2026 at a price of about $2,000, according to people with knowledge of the project.",
        None,
    ),
    (
        "reuters",
        "Apple agreed to pay Google about $1 billion a year for a custom version of its Gemini model to power a revamped Siri due next spring, Bloomberg News reported.",
        ["AAPL", "GOOGL"],
    ),
    (
        "twitter",
        "Apple's China numbers are better than anyone expected. iPhone 17 is a hit there.",
        None,
    ),
    (
        "reuters",
        "Microsoft shares fell 3% after the company said capacity constraints in its data centers would limit Azure growth through at least June next year.",
        None,
    ),
    (
        "twitter",
        "Copilot adoption inside big enterprises is real. Seeing it everywhere in our client base.",
        "MSFT",
    ),
    (
        "reuters",
        "Tesla chair Robyn Denholm warned that Elon Musk could leave the company if shareholders rejected his proposed pay package, in a letter to investors ahead of the annual meeting.",
        None,
    ),
    (
        "twitter",
        "Tesla FSD v14 is genuinely impressive. Still not convinced unsupervised is 12 months away though.",
        "TSLA",
    ),
    (
        "bloomberg",
        "Nvidia's quarterly results next week are expected to show revenue of about $55 billion, with investors focused on whether the company can keep gross margins in the mid-70s as Blackwell Ultra ramps.",
        None,
    ),
    (
        "reuters",
        "SoftBank sold its entire $5.8 billion stake in Nvidia to help fund its investments in OpenAI, the Japanese group said, sending Nvidia shares down 2%.",
        ["NVDA"],
    ),
    (
        "twitter",
        "Amazon Haul and the grocery push are eating into Walmart's core. Watch the Q4 numbers.",
        "AMZN,WMT",
    ),
    (
        "reuters",
        "Amazon said it would invest $50 billion to build AI and supercomputing capacity for U.S. government agencies starting next year.",
        None,
    ),
    (
        "bloomberg",
        "Alphabet shares hit a record high after Berkshire Hathaway disclosed a $4.3 billion stake in the company, its first major investment in a big technology group other than Apple.",
        ["GOOGL"],
    ),
    (
        "reuters",
        "Meta faces a trial in January over claims that its platforms harm teenagers' mental health, after a judge declined to dismiss lawsuits filed by more than 40 U.S. states.",
        None,
    ),
    (
        "twitter",
        "JPM, BAC, WFC all beat. Big banks having their best year since 2021.",
        "JPM,BAC,WFC",
    ),
    (
        "reuters",
        "Exxon Mobil sued California's attorney general for defamation, saying he falsely accused the company of misleading the public about plastic recycling.",
        None,
    ),
    (
        "twitter",
        "Pfizer vs Novo bidding war over Metsera was wild. Pfizer overpaid but needed it.",
        None,
    ),
    (
        "reuters",
        "Walmart's U.S. e-commerce sales rose 28% in the quarter, with store-fulfilled delivery in under three hours growing nearly 70%.",
        None,
    ),
    (
        "twitter",
        "Boeing production stabilising. First time in years I'm not expecting a nasty surprise every quarter.",
        "BA",
    ),
    (
        "reuters",
        "Netflix said it expects revenue of $45.1 billion this year and an operating margin of 29%, slightly below its earlier target because of the Brazil tax charge.",
        None,
    ),
    (
        "twitter",
        "AMD and Intel both guiding to shortages. Old-school CPUs suddenly in demand thanks to AI agents.",
        "AMD,INTC",
    ),
    (
        "bloomberg",
        "Intel received $5.7 billion from the U.S. government in exchange for a 10% equity stake, completing an unusual deal that converted chip subsidies into ownership.",
        None,
    ),
    # --- neutral / market wrap / macro with named companies
    (
        "reuters",
        "Wall Street ended mixed on Friday as gains in Apple and Amazon offset losses in Nvidia and Tesla, with the S&P 500 up 0.1% and the Nasdaq down 0.2% for the day.",
        None,
    ),
    (
        "bloomberg",
        "The S&P 500 technology sector has risen 24% this year, with Nvidia, Microsoft and Apple accounting for more than half of the gain.",
        None,
    ),
    (
        "reuters",
        "Microsoft and Alphabet will both report quarterly results after the closing bell on Wednesday, followed by Apple and Amazon on Thursday.",
        None,
    ),
    (
        "twitter",
        "Earnings calendar this week: MSFT, GOOGL, META Wed; AAPL, AMZN Thu; XOM, CVX Fri.",
        "MSFT,GOOGL,META,AAPL,AMZN,XOM,CVX",
    ),
    (
        "reuters",
        "Shares of JPMorgan Chase, Goldman Sachs and Morgan Stanley rose on Tuesday after a Federal Reserve official said bank capital rules would be eased next year.",
        None,
    ),
    (
        "bloomberg",
        "Hedge funds increased their net exposure to U.S. megacap technology stocks in October, led by purchases of Nvidia, Meta Platforms and Broadcom, according to Goldman Sachs prime brokerage data.",
        None,
    ),
    (
        "reuters",
        "The Federal Reserve cut interest rates by a quarter point on Wednesday, but chair Jerome Powell said a further cut in December was not a foregone conclusion, pushing bank stocks and Treasury yields higher.",
        None,
    ),
    (
        "reuters",
        "Oil majors Exxon Mobil and Chevron both reported higher production in the third quarter, offsetting lower prices, while refining margins improved from a weak second quarter.",
        None,
    ),
    (
        "seekingalpha",
        "Our top picks for 2027 are Amazon, Meta and Broadcom; we would avoid Tesla and Intel, where expectations look too high relative to earnings power.",
        None,
    ),
    (
        "twitter",
        "Mag 7 capex next year: > $500B combined. That number alone tells you where NVDA revenue is going.",
        "NVDA",
    ),
    # --- forward-looking / predictions
    (
        "seekingalpha",
        "We forecast Apple's services revenue to reach $130 billion by fiscal 2027, growing 13% a year, as App Store and advertising revenue offset pressure on the Google search payment.",
        None,
    ),
    (
        "bloomberg",
        "Analysts expect Microsoft's Azure growth to slow to about 35% in the December quarter as capacity constraints limit new deployments, according to a survey by Visible Alpha.",
        None,
    ),
    (
        "reuters",
        "Tesla expects deliveries to fall in the fourth quarter after the expiration of the U.S. tax credit, chief financial officer Vaibhav Taneja told analysts.",
        None,
    ),
    (
        "seekingalpha",
        "We estimate Nvidia will earn $7.50 per share in fiscal 2027, 20% above consensus, as supply constraints ease and Rubin launches on schedule.",
        None,
    ),
    (
        "bloomberg",
        "Amazon plans to nearly double its data-center power capacity by 2027, chief executive Andy Jassy said, adding that AWS growth would continue to accelerate as capacity comes online.",
        None,
    ),
    (
        "reuters",
        "Alphabet expects significantly higher capital expenditures in 2026, chief financial officer Anat Ashkenazi said, as demand for its cloud and AI services outstrips supply.",
        None,
    ),
    (
        "seekingalpha",
        "We predict Meta's operating margin will fall to 35% next year from 41% this year as depreciation and AI talent costs rise, before recovering in 2028.",
        None,
    ),
    (
        "reuters",
        "JPMorgan expects investment-banking fees in the fourth quarter to rise in the mid-teens percentage range from a year earlier, its president said at an industry conference.",
        None,
    ),
    (
        "bloomberg",
        "Exxon Mobil expects to generate $145 billion of surplus cash over the next five years at $65 oil, allowing it to maintain buybacks while raising its dividend.",
        None,
    ),
    (
        "seekingalpha",
        "We expect Pfizer's revenue to decline 2% to 4% a year through 2028 as patent losses outweigh new launches; the Metsera pipeline won't contribute meaningfully before 2029.",
        None,
    ),
    (
        "reuters",
        "Walmart expects holiday-quarter comparable sales to grow about 4%, its chief financial officer said, noting that shoppers were starting their holiday purchases earlier than last year.",
        None,
    ),
    (
        "bloomberg",
        "Boeing expects to deliver between 560 and 580 commercial jets this year and to lift 787 production to seven a month in the first quarter of next year.",
        None,
    ),
    (
        "seekingalpha",
        "We think Netflix can add 20 million ad-tier members next year, taking ad revenue above $6 billion by 2027.",
        None,
    ),
    (
        "reuters",
        "AMD chief executive Lisa Su said the company's AI chip revenue could reach tens of billions of dollars in 2027, driven by its OpenAI agreement and new rack-scale systems.",
        None,
    ),
    (
        "bloomberg",
        "Intel expects gross margin to improve to about 40% next year as its 18A chips ramp and the company stops building capacity ahead of demand, its chief financial officer said.",
        None,
    ),
    # --- negative news
    (
        "reuters",
        "Shares of Apple fell 4% after the U.S. Justice Department said it would seek to break up the company's App Store business as part of its antitrust lawsuit.",
        None,
    ),
    (
        "bloomberg",
        "Microsoft's Teams bundling practices face a fresh antitrust complaint in Brazil, where regulators opened an investigation into whether the company abused its dominant position.",
        None,
    ),
    (
        "reuters",
        "Tesla is under investigation by U.S. safety regulators over reports that its Full Self-Driving software ran red lights and drove on the wrong side of the road, covering 2.9 million vehicles.",
        None,
    ),
    (
        "bloomberg",
        "China's regulator said Nvidia violated the country's anti-monopoly law in its acquisition of Mellanox, a preliminary finding that could lead to fines.",
        None,
    ),
    (
        "reuters",
        "Amazon agreed to pay $2.5 billion to settle Federal Trade Commission claims that it tricked customers into signing up for Prime and made it hard to cancel.",
        None,
    ),
    (
        "bloomberg",
        "Meta's Reality Labs unit lost $4.4 billion in the third quarter, bringing cumulative losses since 2020 to more than $70 billion.",
        None,
    ),
    (
        "reuters",
        "Boeing was ordered to pay $28 million to the family of a passenger killed in the 2019 Ethiopian Airlines crash, the first such case to go to trial.",
        None,
    ),
    (
        "bloomberg",
        "Pfizer shares fell 3% after its experimental hemophilia drug was linked to a patient death in a trial extension study.",
        None,
    ),
    (
        "reuters",
        "Intel lost a bid to overturn a $376 million European Union antitrust fine, with the bloc's top court upholding the penalty over rebates it gave computer makers.",
        None,
    ),
    (
        "bloomberg",
        "Netflix lost 2% on Friday after a federal judge allowed a class action accusing it of misleading investors about subscriber growth to proceed.",
        None,
    ),
]
